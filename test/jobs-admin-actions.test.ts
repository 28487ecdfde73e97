/**
 * POST /v1/admin/jobs/:jobId/retry and …/cancel: a platform admin retries
 * and cancels jobs through the operations the CLI uses, the events name the
 * admin and show in the platform's audit log, dry runs write nothing, an
 * Idempotency-Key answers a repeat with the first response. Unknown jobs are
 * 404, wrong states 409, garbage 400; anyone but a platform admin is refused
 * and writes nothing. A platform admin's read of one job is recorded in the
 * job's organization's audit log; the list and reads of other jobs are not.
 */
import t from 'tap'
import type { TestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem } from './helpers/http.ts'
import { ADMIN_EMAIL, adminApp, supportToken } from './helpers/jobs-admin.ts'
import { jobEventsOf } from './helpers/jobs-harness.ts'
import { deadJob, logHead, scheduledJob, settledJobs } from './helpers/jobs-ops.ts'

const post = (api: TestApp, url: string, token: string | null, body?: unknown, headers?: Record<string, string>) =>
  api.call('POST', url, { token, ...(body === undefined ? {} : { body }), ...(headers === undefined ? {} : { headers }) })

t.test('a platform admin retries a dead job and cancels a waiting one; dry runs write nothing; the events name the admin',
  async (t) => {
    await forEachDatabase(t, async (t, { sql }) => {
      const { api, token, adminId } = await adminApp(t, sql)
      await deadJob(api.runtime, 'dead_1', 'test.actions', '2024-01-01T00:00:00.000Z')
      await scheduledJob(api.runtime, { jobId: 'waits_1', jobType: 'test.actions', scheduledAt: '2024-01-01T00:00:00.000Z' })
      await settledJobs(api.runtime)

      const head = await logHead(sql)
      const dry = await post(api, '/v1/admin/jobs/dead_1/retry', token, { dryRun: true })
      t.equal(dry.statusCode, 200, dry.body)
      t.same(dry.json(), { jobId: 'dead_1', dryRun: true, changed: true, state: 'waiting', runAt: dry.json().runAt, position: null })
      const dryCancel = await post(api, '/v1/admin/jobs/waits_1/cancel', token, { dryRun: true, reason: 'not now' })
      t.match(dryCancel.json(), { jobId: 'waits_1', dryRun: true, changed: true, state: 'cancelled', position: null })
      t.equal(await logHead(sql), head, 'dry runs write nothing')

      const retried = await post(api, '/v1/admin/jobs/dead_1/retry', token)
      t.equal(retried.statusCode, 200, retried.body)
      t.match(retried.json(), { jobId: 'dead_1', dryRun: false, changed: true, state: 'waiting', position: /^\d+\.\d+$/ })
      const cancelled = await post(api, '/v1/admin/jobs/waits_1/cancel', token, { reason: '  the customer left  ' })
      t.match(cancelled.json(), { jobId: 'waits_1', changed: true, state: 'cancelled', runAt: null, position: /^\d+\.\d+$/ })
      const again = await post(api, '/v1/admin/jobs/waits_1/cancel', token, {})
      t.match(again.json(), { changed: false, state: 'cancelled', position: null }, 'cancelled again: nothing to do, 200')

      const retry = (await jobEventsOf(api.runtime.store, 'dead_1')).at(-1)!
      t.match(retry, { type: 'job.retried', data: { by: adminId }, metadata: { actor: { type: 'user', id: adminId } } })
      t.ok(retry.metadata.traceId !== '' && retry.metadata.ip !== undefined, 'with the request\'s trace and address')
      const cancel = (await jobEventsOf(api.runtime.store, 'waits_1')).at(-1)!
      t.match(cancel, { type: 'job.cancelled', data: { by: adminId, note: 'the customer left' }, metadata: { actor: { id: adminId } } })

      await settled(api.runtime)
      const log = await api.call('GET', '/v1/platform/audit-events?action=job.*&sort=asc', { token })
      t.same(log.json().items.filter((row: { actorId: string }) => row.actorId === adminId)
        .map((row: Record<string, unknown>) => [row.action, row.targetId, row.actorLabel]),
      [['job.retried', 'dead_1', ADMIN_EMAIL], ['job.cancelled', 'waits_1', ADMIN_EMAIL]],
      'the platform\'s audit log says who retried and who cancelled')
      const shown = (await api.call('GET', '/v1/admin/jobs/dead_1', { token })).json()
      t.same(shown.history.at(-1), { ...shown.history.at(-1), type: 'job.retried', actor: adminId }, 'and so does the job\'s history')
    })
  })

t.test('an Idempotency-Key answers a repeated retry with the first response and retries once', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, token } = await adminApp(t, sql)
    await deadJob(api.runtime, 'dead_2', 'test.actions', '2024-01-01T00:00:00.000Z')
    const key = { 'idempotency-key': 'retry-dead-2' }
    const first = await post(api, '/v1/admin/jobs/dead_2/retry', token, {}, key)
    const second = await post(api, '/v1/admin/jobs/dead_2/retry', token, {}, key)
    t.equal(first.statusCode, 200, first.body)
    t.equal(second.body, first.body, 'byte for byte')
    t.equal(second.headers['idempotent-replayed'], 'true')
    t.equal((await jobEventsOf(api.runtime.store, 'dead_2')).filter((e) => e.type === 'job.retried').length, 1, 'one retry written')
    problem(t, await post(api, '/v1/admin/jobs/dead_2/cancel', token, {}, key), 422, 'idempotency.key_reused')
  })
})

t.test('unknown jobs are 404, wrong states 409, garbage 400, each a problem with a stable code', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, token } = await adminApp(t, sql)
    await deadJob(api.runtime, 'dead_3', 'test.actions', '2024-01-01T00:00:00.000Z')
    await scheduledJob(api.runtime, { jobId: 'waits_3', jobType: 'test.actions', scheduledAt: '2024-01-01T00:00:00.000Z' })
    const head = await logHead(sql)
    for (const action of ['retry', 'cancel']) {
      for (const body of [undefined, {}, { dryRun: true }]) {
        problem(t, await post(api, `/v1/admin/jobs/no_such_job/${action}`, token, body), 404, 'job.not_found')
      }
      for (const id of ['bad%20id', 'x'.repeat(65), '%00', 'a.b']) {
        problem(t, await post(api, `/v1/admin/jobs/${id}/${action}`, token, {}), 400, 'http.validation')
      }
      for (const body of [{ dryRun: 'yes' }, { dryRun: 1 }, { force: true }, [], [{}], { reason: 'x'.repeat(501) }, { reason: 5 }]) {
        problem(t, await post(api, `/v1/admin/jobs/dead_3/${action}`, token, body), 400, 'http.validation')
      }
    }
    problem(t, await post(api, '/v1/admin/jobs/dead_3/retry', token, { reason: 'retry takes none' }), 400, 'http.validation')
    problem(t, await post(api, '/v1/admin/jobs/waits_3/retry', token), 409, 'job.not_retryable')
    problem(t, await post(api, '/v1/admin/jobs/waits_3/retry', token, { dryRun: true }), 409, 'job.not_retryable')
    const closed = await post(api, '/v1/admin/jobs/dead_3/cancel', token)
    problem(t, closed, 409, 'job.closed')
    t.match(closed.json(), { jobId: 'dead_3', status: 409 }, 'the refusal names the job')
    t.equal(await logHead(sql), head, 'nothing written by any of them')
  })
})

t.test('anyone but a platform admin is refused and writes nothing: owners, support staff, no token', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api } = await adminApp(t, sql)
    await deadJob(api.runtime, 'dead_4', 'test.actions', '2024-01-01T00:00:00.000Z')
    const support = await supportToken(api)
    const head = await logHead(sql)
    const calls: Array<[string, unknown]> = [['/v1/admin/jobs/dead_4/retry', {}], ['/v1/admin/jobs/dead_4/cancel', {}],
      ['/v1/admin/jobs/no_such_job/retry', {}],
      ['/v1/admin/jobs/replay', { type: 'test.actions', from: '2000-01-01', to: '2100-01-01' }]]
    for (const [url, body] of calls) {
      problem(t, await post(api, url, api.owner.token!, body), 403, 'auth.forbidden')
      problem(t, await post(api, url, support, body), 403, 'auth.forbidden')
      problem(t, await post(api, url, null, body), 401, 'auth.unauthenticated')
    }
    t.equal(await logHead(sql), head, 'nothing written')
  })
})

t.test('a platform admin\'s read of one job is in its organization\'s audit log; the list and jobs of no organization are not',
  async (t) => {
    await forEachDatabase(t, async (t, { sql }) => {
      const { api, token, adminId } = await adminApp(t, sql)
      const { orgId } = api.owner
      await scheduledJob(api.runtime, { jobId: 'org_job', jobType: 'test.read', scheduledAt: '2024-01-01T00:00:00.000Z', orgId })
      await scheduledJob(api.runtime, { jobId: 'platform_job', jobType: 'test.read', scheduledAt: '2024-01-01T00:00:00.000Z' })
      await settledJobs(api.runtime)
      const reads = async (): Promise<Array<Record<string, unknown>>> => {
        await settled(api.runtime)
        const response = await api.call('GET', `/v1/orgs/${orgId}/audit-events?action=audit.record.sensitive_read`)
        t.equal(response.statusCode, 200, response.body)
        return response.json().items
      }

      let head = await logHead(sql)
      t.equal((await api.call('GET', '/v1/admin/jobs?type=test.read', { token })).statusCode, 200)
      t.equal((await api.call('GET', '/v1/admin/jobs/platform_job', { token })).statusCode, 200)
      t.equal((await api.call('GET', '/v1/admin/jobs/no_such_job', { token })).statusCode, 404)
      t.equal(await logHead(sql), head, 'the list, a job of no organization and an unknown job: nothing recorded')

      const read = await api.call('GET', '/v1/admin/jobs/org_job', { token })
      t.match(read.json(), { jobId: 'org_job', orgId, payload: { n: 'org_job' } })
      const [row, ...more] = await reads()
      t.same(more, [], 'one read, one row')
      t.match(row, {
        orgId, actorId: adminId, actorLabel: ADMIN_EMAIL, action: 'audit.record.sensitive_read',
        targetType: 'job', targetId: 'org_job', diff: { action: { after: 'job:read' }, resource: { after: 'job/org_job' } }
      }, 'the organization sees which platform admin read its job')
      head = await logHead(sql)
      await api.call('GET', '/v1/admin/jobs/org_job', { token })
      t.not(await logHead(sql), head, 'each read is recorded')
      t.equal((await reads()).length, 2)
    })
  })
