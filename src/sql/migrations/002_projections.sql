-- Projection bookkeeping (DESIGN.md §5). A projection's tables live in a
-- schema of their own per generation (ledgerline_<name>_g<generation>); views
-- in public point at the active generation, so a rebuild (the next
-- generation) is swapped in atomically and reads never see a half-built model.
CREATE TABLE projections (
  name               text        PRIMARY KEY,
  version            int         NOT NULL,
  generation         int         NOT NULL,
  position_major     bigint      NOT NULL DEFAULT 0,
  position_minor     bigint      NOT NULL DEFAULT 0,
  events_applied     bigint      NOT NULL DEFAULT 0,
  updated_at         timestamptz NOT NULL DEFAULT now()
);
