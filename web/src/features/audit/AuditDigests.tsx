/**
 * The signed daily digests of the log, newest day first, with what anyone
 * needs to check them without Ledgerline: the public key, each digest's
 * exact signed text and its Ed25519 signature, and the head hash the chain
 * of an export must reach at the digest's last row.
 */
import { Empty, ErrorText, Loading } from '../../lib/components.tsx'
import { useCursorPages } from '../../lib/pages.ts'
import { Pager } from '../../lib/Pager.tsx'
import { digestsHref, useDigests, type Digest } from './api.ts'

export function AuditDigests ({ orgId }: { orgId: string }) {
  const pages = useCursorPages()
  const digests = useDigests(orgId, pages.cursor)
  return (
    <section aria-labelledby="digests-title">
      <h2 id="digests-title">Signed digests</h2>
      <p className="muted">
        Once a UTC day is over, the server signs a digest of it: its rows, the last row's number and the chain's hash there (the head
        hash). Keep them. To check a digest yourself, verify its signature over the signed text with the public key (Ed25519), then
        recompute the chain of an export: at the digest's last row it must reach the head hash.
      </p>
      {digests.isPending && <Loading what="the signed digests" />}
      <ErrorText error={digests.error} />
      {digests.data !== undefined && (
        <>
          <details className="public-key">
            <summary>Public key <code>{digests.data.keyId}</code> (Ed25519, PEM)</summary>
            <pre>{digests.data.publicKey}</pre>
          </details>
          {digests.data.items.length === 0
            ? <Empty>No signed digest yet: the first is signed once the log's first UTC day is over.</Empty>
            : <DigestTable items={digests.data.items} keyId={digests.data.keyId} busy={digests.isPlaceholderData} />}
          <p><a className="button secondary" href={digestsHref(orgId)} download={`audit-digests-${orgId}.json`}>
            Download the digests (JSON)</a></p>
        </>
      )}
      <Pager label="Signed digests" pages={pages} nextCursor={digests.data?.nextBefore} />
    </section>
  )
}

function DigestTable ({ items, keyId, busy }: { items: Digest[], keyId: string, busy: boolean }) {
  return (
    <div className="table-scroll">
      <table className="list labelled digests" aria-label="Signed digests" aria-busy={busy}>
        <thead><tr><th scope="col">Day (UTC)</th><th scope="col">Rows</th><th scope="col">Head hash</th><th scope="col">Key id</th>
          <th scope="col">Signature</th><th scope="col">Signed text</th></tr></thead>
        <tbody>{items.map((digest) => (
          <tr key={digest.day}>
            <td data-label="Day (UTC)">{digest.day}</td>
            <td data-label="Rows">{digest.rows} (#{digest.firstSeq} to #{digest.lastSeq})</td>
            <td data-label="Head hash"><code>{digest.lastHash}</code></td>
            <td data-label="Key id"><code>{digest.keyId}</code>
              {digest.keyId !== keyId && <span className="muted"> (an earlier key)</span>}</td>
            <td data-label="Signature"><code>{digest.signature}</code></td>
            <td data-label="Signed text">
              <details><summary>Show<span className="sr-only"> the signed text of {digest.day}</span></summary>
                <pre>{digest.signedText}</pre></details>
            </td>
          </tr>
        ))}</tbody>
      </table>
    </div>
  )
}
