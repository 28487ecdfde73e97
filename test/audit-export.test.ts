/**
 * Audit exports through HTTP: CSV (neutralized cells, RFC 4180), NDJSON and
 * JSON hold the same rows in log order, with the filters of the query API;
 * the export is itself in the log; only holders of audit:export may.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { get } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'
import { pino } from 'pino'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { openRuntime } from '../src/runtime.ts'
import { openTestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase, openTestDatabase } from './helpers/databases.ts'
import { problem, register } from './helpers/http.ts'
import { joinOrg } from './helpers/invitations.ts'
import { ledgerline, type CliRun } from './helpers/ledgerline.ts'

t.test('export as CSV, NDJSON and JSON: the same rows, the filters, the export audited, audit:export required', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    // A user agent is the caller's to choose, and a CSV cell of its own.
    await api.call('PATCH', `/v1/orgs/${orgId}`, { body: { name: 'Renamed' }, headers: { 'user-agent': '=HYPERLINK("http://evil.example","click")' } })
    const viewer = await register(api, 'viewer@a.example')
    await joinOrg(api, orgId, viewer, ['viewer'])
    await settled(api.runtime)

    const ndjson = await api.call('GET', `/v1/orgs/${orgId}/audit-events/export?format=ndjson`)
    t.equal(ndjson.statusCode, 200, ndjson.body.slice(0, 300))
    t.match(ndjson.headers['content-type'], /^application\/x-ndjson/)
    t.match(ndjson.headers['content-disposition'], new RegExp(`^attachment; filename="audit-${orgId}-\\d{8}T\\d{6}Z\\.ndjson"$`))
    const rows = ndjson.body.trim().split('\n').map((line) => JSON.parse(line) as { seq: number, action: string, diff: unknown })
    t.same(rows.map((r) => r.seq), rows.map((_, i) => i + 1), 'every row, in log order')
    t.ok(rows.some((r) => r.action === 'org.organization.renamed'))

    const json = await api.call('GET', `/v1/orgs/${orgId}/audit-events/export?format=json`)
    t.same(json.json().slice(0, rows.length), rows, 'JSON holds the same rows (and perhaps the NDJSON export\'s own)')

    const csv = await api.call('GET', `/v1/orgs/${orgId}/audit-events/export?format=csv&action=org.organization.*`)
    t.match(csv.headers['content-type'], /^text\/csv/)
    const lines = csv.body.split('\r\n').filter((line) => line !== '')
    t.equal(lines[0], 'id,orgId,seq,occurredAt,action,actorType,actorId,actorLabel,impersonatorId,targetType,targetId,diff,' +
      'ip,userAgent,traceId,requestId,position,prevHash,hash')
    t.equal(lines.length - 1, rows.filter((r) => r.action.startsWith('org.organization.')).length, 'the action filter applies')
    t.notOk(csv.body.split(/,|\r\n/).some((cell) => /^"?[=+\-@\t\r]/.test(cell)), 'no cell a spreadsheet would run')
    t.match(csv.body, /,"'=HYPERLINK\(""http:\/\/evil\.example"",""click""\)",/, 'the formula is kept, neutralized')

    await settled(api.runtime)
    const logged = (await api.call('GET', `/v1/orgs/${orgId}/audit-events?action=audit.log.*&sort=asc`)).json()
    t.match(logged.items.map((i: { action: string, diff: unknown }) => [i.action, i.diff]), [
      ['audit.log.exported', { format: { after: 'ndjson' } }],
      ['audit.log.exported', { format: { after: 'json' } }],
      ['audit.log.exported', { format: { after: 'csv' }, filters: { after: { action: 'org.organization.*' } } }]
    ], 'each export is in the log, with its format and filters')

    problem(t, await api.call('GET', `/v1/orgs/${orgId}/audit-events/export?format=csv`, { token: viewer.token }), 403, 'auth.forbidden')
    problem(t, await api.call('GET', `/v1/orgs/${orgId}/audit-events/export?format=xlsx`), 400, 'http.validation')
    const other = await api.newOwner('other@b.example')
    problem(t, await api.call('GET', `/v1/orgs/${orgId}/audit-events/export`, { token: other.token }), 404, 'org.not_found')
  })
})

t.test('a search is logged once, at its first page, with its filters', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    await settled(api.runtime)
    const first = (await api.call('GET', `/v1/orgs/${orgId}/audit-events?limit=1&action=org.*`)).json()
    t.ok(first.nextCursor !== null)
    await api.call('GET', `/v1/orgs/${orgId}/audit-events?limit=1&action=org.*&cursor=${first.nextCursor}`)
    await settled(api.runtime)
    const { rows } = await sql.query<{ diff: unknown, actor_id: string }>(
      "SELECT diff, actor_id FROM audit_events WHERE org_id = $1 AND action = 'audit.log.searched'", [orgId])
    t.match(rows, [{ actor_id: api.owner.userId, diff: { filters: { after: { action: 'org.*' } } } }])
    t.equal(rows.length, 1, 'the second page is the same search')
  })
})

t.test('ledgerline audit export writes the log to a file with progress; audit retention sets it; audit purge runs the purge', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ledgerline-audit-export-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const db = await openTestDatabase('pglite')
  t.teardown(db.dispose)
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), pino({ level: 'silent' }), { sql: db.sql, runProjections: true })
  t.teardown(() => runtime.close())
  const cli = (args: string[]): Promise<CliRun> => ledgerline(runtime, args)
  const { orgId } = JSON.parse((await cli(['bootstrap', '--email', 'root@acme.example', '--org', 'Acme', '--json'])).stdout) as
    { orgId: string }
  const out = join(dir, 'audit.ndjson')
  const exported = await cli(['audit', 'export', '--org', orgId, '--format', 'ndjson', '--out', out, '--action', 'org.*'])
  t.equal(exported.code, 0, exported.stderr)
  t.match(exported.stderr, /export \d+\/\d+ rows/, 'progress on standard error')
  const rows = readFileSync(out, 'utf8').trim().split('\n').filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { action: string })
  t.ok(rows.every((row) => row.action.startsWith('org.')), `${rows.length} rows, all org.*`)
  const bad = await cli(['audit', 'export', '--org', orgId, '--format', 'xlsx'])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /csv, ndjson or json/)
  const set = await cli(['audit', 'retention', '--org', orgId, '--days', '14'])
  t.equal(set.code, 0, set.stderr)
  t.match(set.stdout, /14 days kept \(set to 14; the plan allows 7 to 30\)/)
  const refused = await cli(['audit', 'retention', '--org', orgId, '--days', '90', '--json'])
  t.equal(refused.code, 1)
  t.match(refused.stderr, /audit\.retention_out_of_range|within what the plan allows/)
  const purged = await cli(['audit', 'purge', '--json'])
  t.equal(purged.code, 0, purged.stderr)
  t.same(JSON.parse(purged.stdout), { purges: [] }, 'nothing is past retention in a new log')
})

/** A response read to its end over a real socket: `complete` is false when the transfer was cut. */
function download (url: string, token: string): Promise<{ status: number, contentType: string, body: string, complete: boolean }> {
  return new Promise((resolve, reject) => {
    let responded = false
    get(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      responded = true
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', () => {}) // a cut transfer: `complete` says so
      res.on('close', () =>
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']),
          body: Buffer.concat(chunks).toString('utf8'), complete: res.complete }))
    }).on('error', (error) => { if (!responded) reject(error) }) // after the head, a reset is a cut transfer
  })
}

t.test('an export that fails after its headers does not look complete: NDJSON ends with an error line, CSV and JSON are cut', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    // Reads of the export after its first chunk fail while `failAfterFirst` is set; every read fails while `failAll` is.
    const inject = { failAfterFirst: false, failAll: false }
    const flaky = new Proxy(sql, {
      get (target, property) {
        if (property === 'query') {
          return async (text: string, params?: readonly unknown[], options?: object) => {
            const exportRead = text.includes('FROM audit_events') && text.includes('ORDER BY seq asc')
            if (exportRead && (inject.failAll || (inject.failAfterFirst && /seq > \$\d/.test(text)))) throw new Error('injected: the read model went away')
            return target.query(text, params, options)
          }
        }
        const value: unknown = Reflect.get(target, property, target)
        return typeof value === 'function' ? value.bind(target) : value
      }
    })
    const api = await openTestApp(t, flaky)
    const { orgId, token } = api.owner
    await settled(api.runtime)
    // More rows than one chunk of the export (500), so that it reads twice.
    await sql.query(
      `INSERT INTO audit_events (id, org_id, seq, occurred_at, action, actor_type, actor_id, position, prev_hash, hash)
       SELECT gen_random_uuid(), $1, 1000000 + g, now(), 'test.row.added', 'system', 'test', '0.0', 'x', 'x'
       FROM generate_series(1, 600) AS g`, [orgId])
    const address = await api.app.listen({ port: 0, host: '127.0.0.1' })
    const url = (format: string): string => `${address}/v1/orgs/${orgId}/audit-events/export?format=${format}&action=test.*`

    const whole = { csv: await download(url('csv'), token), ndjson: await download(url('ndjson'), token),
      json: await download(url('json'), token) }
    t.ok(whole.csv.complete && whole.ndjson.complete && whole.json.complete, 'without a failure every transfer completes')
    t.equal(whole.csv.body.split('\r\n').length - 2, 600, 'CSV: a header line and 600 rows')
    t.equal(whole.ndjson.body.trim().split('\n').length, 600)
    t.equal((JSON.parse(whole.json.body) as unknown[]).length, 600)

    inject.failAfterFirst = true
    const csv = await download(url('csv'), token)
    t.equal(csv.status, 200)
    t.notOk(csv.complete, 'CSV: the transfer is cut')
    t.equal(csv.body.split('\r\n').length - 2, 500, 'after the first chunk only')

    const json = await download(url('json'), token)
    t.notOk(json.complete, 'JSON: the transfer is cut')
    t.ok(json.body.startsWith('[') && !json.body.trimEnd().endsWith(']'), 'and the array is never closed')
    t.throws(() => JSON.parse(json.body), 'what arrived does not parse')

    // HTTP/1.0 has no chunked encoding: the body runs to the close, so only a reset tells a cut file from a whole one.
    const old = await http10(address, `/v1/orgs/${orgId}/audit-events/export?format=csv&action=test.*`, token)
    t.notMatch(old.head, /transfer-encoding: chunked/i, 'no chunked encoding to cut')
    t.equal(old.ending, 'reset', 'HTTP/1.0 CSV: the connection is reset, not closed as if the file were whole')

    const ndjson = await download(url('ndjson'), token)
    t.ok(ndjson.complete, 'NDJSON: the transfer ends normally…')
    const lines = ndjson.body.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
    t.equal(lines.length, 501, '…after the first chunk…')
    t.notOk(lines.slice(0, -1).some((line) => 'error' in line), 'no row has an error member')
    t.match(lines.at(-1), { error: { status: 500, code: 'audit.export_incomplete', traceId: /^[0-9a-f]{32}$/ } }, '…and its last line says it is incomplete')

    inject.failAll = true
    for (const format of ['csv', 'ndjson', 'json']) {
      const failed = await download(url(format), token)
      t.equal(failed.status, 500, `${format}: a failing first read is answered before the headers, as a problem`)
      t.match(failed.contentType, /^application\/problem\+json/)
      t.ok(failed.complete)
    }
  })
})

/** A raw HTTP/1.0 GET: the head, and whether the connection ended with a clean close or a reset. */
function http10 (address: string, path: string, token: string): Promise<{ head: string, ending: 'close' | 'reset' }> {
  const { hostname, port } = new URL(address)
  return new Promise((resolve) => {
    let received = ''
    let ending: 'close' | 'reset' = 'close'
    const socket = connect(Number(port), hostname, () =>
      socket.write(`GET ${path} HTTP/1.0\r\nHost: ${hostname}\r\nAuthorization: Bearer ${token}\r\n\r\n`))
    socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1') })
    socket.on('error', (error: NodeJS.ErrnoException) => { if (error.code === 'ECONNRESET') ending = 'reset' })
    socket.on('close', () => resolve({ head: received.slice(0, received.indexOf('\r\n\r\n')), ending }))
  })
}
