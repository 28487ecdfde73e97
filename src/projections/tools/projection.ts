/**
 * The tool calls read model: one row per call (src/domain/tools/), for the
 * organization's list of calls and one call's state (`GET …/tool-calls` and
 * `…/tool-calls/:callId`). Times are the events' `occurredAt`, so a rebuild
 * gives the same rows. The input is the recorded one: secrets redacted.
 */
import type { RecordedEvent } from '../../eventstore/types.ts'
import type { SqlTransaction } from '../../sql/client.ts'
import type { Projection } from '../projection.ts'

type Data = Record<string, unknown>
type Apply = (tx: SqlTransaction, callId: string, data: Data, event: RecordedEvent) => Promise<unknown>

/** An attempt's end: `retrying` while a retry is due, else the call's end. */
const attemptEnded = (status: string): Apply => (tx, callId, d, event) => tx.query(
  `UPDATE tool_calls SET status = CASE WHEN $2::timestamptz IS NULL THEN $3 ELSE 'retrying' END, retry_at = $2,
          error_code = $4, error_message = $5, finished_at = CASE WHEN $2::timestamptz IS NULL THEN $6::timestamptz END,
          duration_ms = coalesce($7, duration_ms), updated_at = $6
    WHERE call_id = $1`,
  [callId, d.retryAt ?? null, status, d.code ?? 'tool.timeout', d.message ?? null, event.metadata.occurredAt, d.durationMs ?? null])

const handlers: Record<string, Apply> = {
  'ai.tool.call.requested': (tx, callId, d, event) => tx.query(
    `INSERT INTO tool_calls (call_id, org_id, tool, caller_id, impersonator_id, action, input, input_kept, approval, status, attempts,
       requested_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'requested', 0, $10, $10) ON CONFLICT (call_id) DO NOTHING`,
    [callId, d.orgId, d.tool, d.callerId, d.impersonatorId ?? event.metadata.impersonatorId ?? null, d.action, JSON.stringify(d.input),
      d.inputKept, d.approval, event.metadata.occurredAt]),
  'ai.tool.call.approval_requested': (tx, callId, d, event) => tx.query(
    "UPDATE tool_calls SET status = 'awaiting_approval', approval_expires_at = $2, updated_at = $3 WHERE call_id = $1",
    [callId, d.expiresAt, event.metadata.occurredAt]),
  'ai.tool.call.approved': (tx, callId, d, event) => tx.query(
    "UPDATE tool_calls SET status = 'approved', decided_by = $2, decided_at = $3, updated_at = $3 WHERE call_id = $1",
    [callId, d.by, event.metadata.occurredAt]),
  'ai.tool.call.denied': (tx, callId, d, event) => tx.query(
    `UPDATE tool_calls SET status = 'denied', denial_reason = $2, decided_by = $3, decided_at = $4, finished_at = $4, updated_at = $4
      WHERE call_id = $1`, [callId, d.reason, d.by, event.metadata.occurredAt]),
  'ai.tool.call.started': (tx, callId, d, event) => tx.query(
    `UPDATE tool_calls SET status = 'running', attempts = $2, retry_at = NULL, started_at = coalesce(started_at, $3), updated_at = $3
      WHERE call_id = $1`, [callId, d.attempt, event.metadata.occurredAt]),
  'ai.tool.call.succeeded': (tx, callId, d, event) => tx.query(
    `UPDATE tool_calls SET status = 'succeeded', error_code = NULL, error_message = NULL, output_bytes = $2, duration_ms = $3,
            finished_at = $4, updated_at = $4 WHERE call_id = $1`, [callId, d.outputBytes, d.durationMs, event.metadata.occurredAt]),
  'ai.tool.call.failed': attemptEnded('failed'),
  'ai.tool.call.timed_out': attemptEnded('timed_out')
}

export const TOOL_CALL_EVENT_TYPES = Object.keys(handlers)

export const toolCallsProjection: Projection = {
  name: 'tool_calls',
  version: 1,
  eventTypes: TOOL_CALL_EVENT_TYPES,
  tables: ['tool_calls'],
  setup: `
    CREATE TABLE tool_calls (
      call_id text PRIMARY KEY,
      org_id text NOT NULL,
      tool text NOT NULL,
      caller_id text NOT NULL,
      impersonator_id text,
      action text NOT NULL,
      input jsonb NOT NULL,
      input_kept boolean NOT NULL,
      approval text NOT NULL,
      -- requested | awaiting_approval | approved | running | retrying | succeeded | failed | timed_out | denied
      status text NOT NULL,
      attempts integer NOT NULL,
      approval_expires_at timestamptz,
      decided_by text,
      decided_at timestamptz,
      denial_reason text,
      retry_at timestamptz,
      error_code text,
      error_message text,
      output_bytes integer,
      duration_ms integer,
      requested_at timestamptz NOT NULL,
      started_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz NOT NULL);
    CREATE INDEX tool_calls_org ON tool_calls (org_id, requested_at DESC, call_id DESC);`,
  async apply (events: readonly RecordedEvent[], tx) {
    for (const event of events) {
      await handlers[event.type]?.(tx, event.streamId.slice('toolcall-'.length), event.data as Data, event)
    }
  }
}
