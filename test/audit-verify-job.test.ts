/**
 * Audit verification as a job, through a real runtime (projections and the
 * job runner running) and the Fastify app: POST …/audit-events/verify
 * answers 202 with a Location, the job keeps the report (ok, or the first
 * mismatch: a verification that ran), one verification waits per
 * organization, and GET …/verifications/:jobId answers only for a
 * verification of that organization.
 */
import t from 'tap'
import { execute } from '../src/application/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { jobDecider, jobStreamId } from '../src/domain/jobs/job.ts'
import { z } from 'zod'
import { appendChain } from './helpers/audit-chains.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { lastWritten, settled } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { requestVerification, untilVerified } from './helpers/verify.ts'

const verifyPath = (orgId: string): string => `/v1/orgs/${orgId}/audit-events/verify`
const verificationPath = (orgId: string, jobId: string): string => `/v1/orgs/${orgId}/audit-events/verifications/${jobId}`

/** Audit verifications counted as failed on this runtime, for organizations. */
async function failures (api: TestApp): Promise<number> {
  const metric = await api.runtime.metrics.registry.getSingleMetric('ledgerline_audit_verify_failures_total')!.get()
  return metric.values.filter((v) => v.labels.scope === 'org').reduce((n, v) => n + v.value, 0)
}

t.test('POST …/verify answers 202 and a Location; the job keeps the report: ok on an untouched log, ' +
  'the first mismatch once a row is altered', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    await appendChain(api.runtime, orgId, 12, () => new Date())
    await settled(api.runtime)

    const response = await api.call('POST', verifyPath(orgId))
    t.equal(response.statusCode, 202, response.body)
    const { jobId } = response.json() as { jobId: string }
    const location = verificationPath(orgId, jobId)
    t.match(response.json(), { jobId: /^[0-9a-f-]{36}$/, state: /^(waiting|running|succeeded)$/, location })
    t.equal(response.headers.location, location, 'the Location header names the verification')
    t.equal((await api.call('GET', location)).statusCode, 200, 'readable at once, projected or not')

    const done = await untilVerified(api, location)
    t.match(done, { jobId, orgId, state: 'succeeded', attempts: 1, error: null, report: { orgId, ok: true, mismatch: null } })
    t.ok(done.report!.rowsChecked > 12, `${done.report!.rowsChecked} rows checked`)
    t.ok(done.finishedAt !== null && Date.parse(done.finishedAt) >= Date.parse(done.scheduledAt), 'finished after it was scheduled')
    const { rows: [row] } = await sql.query<{ org_id: string, job_key: string, key_mode: string, result: { ok: boolean } }>(
      'SELECT org_id, job_key, key_mode, result FROM jobs WHERE job_id = $1', [jobId])
    t.match(row, { org_id: orgId, job_key: `audit-verify/${orgId}`, key_mode: 'preserve', result: { ok: true, orgId } },
      'the job row: the organization, the key, the report as its result')
    const [scheduled] = await api.runtime.store.readStream(jobStreamId(jobId))
    t.match(scheduled, { type: 'job.scheduled', data: { jobType: 'audit.verify', payload: { orgId }, maxAttempts: 3, timeoutSeconds: 600 },
      metadata: { orgId, actor: { type: 'user', id: api.owner.userId } } }, 'scheduled in the caller\'s name, for the organization')

    const before = await failures(api)
    await sql.query("UPDATE audit_events SET ip = '203.0.113.9' WHERE org_id = $1 AND seq = 7", [orgId])
    const again = await requestVerification(api, orgId)
    t.not(again.jobId, jobId, 'a new verification: the first is over')
    t.match(await untilVerified(api, again.location), {
      state: 'succeeded',
      error: null,
      report: { ok: false, mismatch: { kind: 'row', seq: 7, column: 'ip', expected: null, found: '203.0.113.9' } }
    }, 'a mismatch is a verification that ran: the job succeeded with ok false')
    t.equal(await failures(api), before + 1, 'counted in ledgerline_audit_verify_failures_total')
    t.match((await api.call('GET', location)).json(), { state: 'succeeded', report: { ok: true } }, 'the first report is kept as it was')
  })
})

t.test('one verification waits per organization: a POST while it waits answers its id; ' +
  'once it ran, the next POST schedules another', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    await api.runtime.jobs.stop() // nothing runs: verifications wait
    const first = await requestVerification(api, orgId)
    const second = await api.call('POST', verifyPath(orgId))
    t.equal(second.statusCode, 202)
    t.same(second.json(), { jobId: first.jobId, state: 'waiting', location: first.location }, 'the waiting one, not a new one')
    t.equal(second.headers.location, first.location)
    const racing = await Promise.all([1, 2, 3].map(() => api.call('POST', verifyPath(orgId))))
    t.same(racing.map((r) => [r.statusCode, r.json().jobId]), [[202, first.jobId], [202, first.jobId], [202, first.jobId]],
      'three at once: the same one')
    const other = await api.newOwner('other@b.example')
    const theirs = await requestVerification(api, other.orgId, other.token)
    t.not(theirs.jobId, first.jobId, 'another organization\'s waits beside it')
    await api.runtime.runner.waitFor(await lastWritten(sql), 10_000)
    const { rows } = await sql.query<{ org_id: string, n: number }>(
      "SELECT org_id, count(*)::int AS n FROM jobs WHERE job_type = 'audit.verify' AND state = 'waiting' GROUP BY org_id ORDER BY org_id")
    t.same(rows.map((r) => [r.org_id, r.n]).sort(), [[orgId, 1], [other.orgId, 1]].sort(), 'one waiting job per organization')
    t.match((await api.call('GET', first.location)).json(), { state: 'waiting', attempts: 0, finishedAt: null, error: null, report: null })

    await api.runtime.jobs.start()
    t.match(await untilVerified(api, first.location), { state: 'succeeded', attempts: 1, report: { ok: true } })
    t.match(await untilVerified(api, theirs.location, other.token), { state: 'succeeded', report: { ok: true, orgId: other.orgId } })
    const next = await requestVerification(api, orgId)
    t.not(next.jobId, first.jobId, 'the one that ran no longer holds the key')
    t.match(await untilVerified(api, next.location), { state: 'succeeded' })
  })
})

t.test('GET …/verifications/:jobId answers a verification of that organization only; ' +
  'one not projected yet from its stream, one that could not run with its error', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    await api.runtime.jobs.stop() // the test plays the runner's part where it needs one
    const other = await api.newOwner('other@b.example')
    const mine = await requestVerification(api, orgId)
    await settled(api.runtime)

    const problem = async (url: string, token?: string) => {
      const response = await api.call('GET', url, token === undefined ? {} : { token })
      t.match(String(response.headers['content-type']), /^application\/problem\+json/, `${url}: problem+json`)
      return { status: response.statusCode, code: (response.json() as { code: string }).code }
    }
    const notFound = { status: 404, code: 'audit.verification_not_found' }
    t.same(await problem(verificationPath(other.orgId, mine.jobId), other.token), notFound, 'another organization\'s verification')
    t.same(await problem(verificationPath(other.orgId, mine.jobId)), { status: 404, code: 'org.not_found' },
      'an organization the caller is not in')
    t.same(await problem(verificationPath(orgId, 'job_doesnotexist')), notFound, 'an unknown id')
    t.same(await problem(verificationPath(orgId, crypto.randomUUID())), notFound, 'an unknown uuid')
    for (const malformed of ['not%20an%20id', 'x'.repeat(65), '%C3%A9t%C3%A9']) {
      t.same(await problem(verificationPath(orgId, malformed)), { status: 400, code: 'http.validation' }, `a malformed id: ${malformed}`)
    }
    api.runtime.jobs.registerJobHandler({ type: 'test.other', payload: z.object({ orgId: z.string() }).strict(), async handle () {} })
    const { jobId: otherJob } = await api.runtime.jobs.schedule('test.other', { orgId },
      { metadata: { ...systemCommand('test'), orgId } })
    t.same(await problem(verificationPath(orgId, otherJob)), notFound, 'a job of the organization that is no verification')

    // Two attempts that fail, as the runner records them: a driver's error, then the timeout, the last allowed here.
    const stream = jobStreamId(mine.jobId)
    const attempt = async (n: number, failure: { code: string, message: string, retryable: boolean }): Promise<void> => {
      await execute(api.runtime.identity, jobDecider, stream, { type: 'StartAttempt', data: { node: 'test', leaseSeconds: 30 } },
        systemCommand('test'))
      await execute(api.runtime.identity, jobDecider, stream,
        { type: 'FailAttempt', data: { node: 'test', attempt: n, ...failure, random: 0 } }, systemCommand('test'))
      await settled(api.runtime)
    }
    const driverError = 'terminating connection due to administrator command (db-7.internal:5432)'
    await attempt(1, { code: '57p01', message: driverError, retryable: true })
    t.match((await api.call('GET', mine.location)).json(), {
      state: 'waiting', attempts: 1, finishedAt: null, report: null,
      error: { code: '57p01', message: 'the verification could not run; the error is kept on its job for the operators' }
    }, 'waiting to retry: the code is shown, a message the engine did not write is not')
    const { rows: [kept] } = await sql.query<{ last_error_message: string }>('SELECT last_error_message FROM jobs WHERE job_id = $1',
      [mine.jobId])
    t.match(kept!.last_error_message, /db-7\.internal/, 'the job keeps it for the operators')
    await attempt(2, { code: 'job.timeout', message: 'the attempt ran past its 600 s timeout', retryable: false })
    const dead = (await api.call('GET', mine.location)).json()
    t.match(dead, { jobId: mine.jobId, orgId, state: 'dead', attempts: 2, report: null,
      error: { code: 'job.timeout', message: 'the attempt ran past its 600 s timeout' } }, 'dead: the engine\'s own message is shown')
    t.ok(dead.finishedAt !== null, 'finished')

    // Written but not projected yet (the row taken away to stand for the lag): read from the job's stream.
    const fresh = await requestVerification(api, orgId)
    t.not(fresh.jobId, mine.jobId, 'a dead verification holds no key')
    await settled(api.runtime)
    t.equal((await sql.query('DELETE FROM jobs WHERE job_id = $1', [fresh.jobId])).rowCount, 1)
    t.match((await api.call('GET', fresh.location)).json(),
      { jobId: fresh.jobId, orgId, state: 'waiting', attempts: 0, finishedAt: null, error: null, report: null })
    t.same(await problem(verificationPath(other.orgId, fresh.jobId), other.token), notFound,
      'from the stream too, only for its organization')
  })
})
