/**
 * "Verify the log": the server recomputes the organization's chain from the
 * event log (every row and signed digest) as a job; the page polls it and
 * shows its progress, then intact or the first place the chain breaks. The
 * job's id goes into the address, so a reload keeps following it.
 */
import { useMutation } from '@tanstack/react-query'
import { useSearchParams } from 'react-router'
import { ErrorText } from '../../lib/components.tsx'
import { isOver, startVerification, useVerification, type Mismatch, type Verification } from './api.ts'

export function AuditVerify ({ orgId }: { orgId: string }) {
  const [params, setParams] = useSearchParams()
  const jobId = params.get('job') ?? undefined
  const start = useMutation({
    mutationFn: () => startVerification(orgId),
    onSuccess: (requested) => setParams({ job: requested.jobId })
  })
  const verification = useVerification(orgId, jobId)
  const busy = start.isPending || (jobId !== undefined && verification.error === null && !isOver(verification.data?.state))
  return (
    <section aria-labelledby="verify-title">
      <h2 id="verify-title">Verify the chain</h2>
      <p className="muted">
        Each row's hash covers the row and the hash before it. Verifying replays the whole event log in the server, recomputes every row
        and checks every signed digest, then names the first difference. A large log takes a while; you may leave the page.
      </p>
      <button type="button" onClick={() => start.mutate()} disabled={busy}>Verify the log</button>
      <ErrorText error={start.error} />
      <ErrorText error={verification.error} />
      <div aria-live="polite">{verification.data !== undefined && <Outcome verification={verification.data} />}</div>
    </section>
  )
}

function Outcome ({ verification }: { verification: Verification }) {
  const { state, attempts, report, error } = verification
  if (state === 'waiting' || state === 'running') {
    return (
      <p className="verify-progress">
        <progress aria-label="Verification in progress" />{' '}
        {state === 'waiting' ? 'Waiting for a worker…' : `Verifying… (attempt ${attempts} of 3)`}
      </p>
    )
  }
  if (state === 'cancelled') return <p className="verdict broken">This verification was cancelled before it ran. Verify again.</p>
  if (state === 'dead' || report === null) {
    return <p className="verdict broken">The verification could not run{error === null ? '' : ` (${error.code}: ${error.message})`}.</p>
  }
  if (report.mismatch !== null) return <Broken mismatch={report.mismatch} keyId={report.keyId} />
  return (
    <p className="verdict intact">
      <strong>Intact.</strong> {report.rowsChecked} rows and {report.digestsChecked} signed digests match the event log through log
      position {report.through} (key {report.keyId}).
    </p>
  )
}

const shown = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value) ?? '—')

function Broken ({ mismatch, keyId }: { mismatch: Mismatch, keyId: string }) {
  const where = mismatch.kind === 'row'
    ? `at row #${mismatch.seq}`
    : `at the signed digest of ${mismatch.day ?? 'a day'} (through row #${mismatch.seq})`
  return (
    <div className="verdict broken">
      <p><strong>The chain breaks {where}.</strong> The stored {mismatch.kind} differs from what the event log gives in
        {' '}<code>{mismatch.column}</code>{mismatch.column === 'key_id' ? ` (the configured key is ${keyId})` : ''}.</p>
      <dl className="facts">
        <div><dt>Expected</dt><dd><code>{shown(mismatch.expected)}</code></dd></div>
        <div><dt>Found</dt><dd><code>{shown(mismatch.found)}</code></dd></div>
        {mismatch.eventId !== undefined && <div><dt>Event</dt><dd><code>{mismatch.eventId}</code></dd></div>}
      </dl>
    </div>
  )
}
