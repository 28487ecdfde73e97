/**
 * Policy tests through `POST /v1/orgs/:orgId/roles/:roleId/test` and
 * `ledgerline rbac test`, on every database driver: a case naming a member
 * holds that member's real roles; a case that names no principal (on the
 * CLI), an unknown role, someone who is not a member or an unknown action
 * is refused with its code rather than denied in silence.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { addMember, assignRole, createRole, registerUser } from '../src/application/identity/commands.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { openRuntime } from '../src/runtime.ts'
import { openTestApp } from './helpers/app.ts'
import { cli } from './helpers/cli.ts'
import { drivers, forEachDatabase, openTestDatabase } from './helpers/databases.ts'
import { problem, register } from './helpers/http.ts'

const exporter = [{ actions: ['audit:export'], resource: '*', effect: 'allow' as const }]
const exports = (principal: unknown, expect: 'allow' | 'deny') =>
  ({ principal, action: 'audit:export', resource: { type: 'organization' }, expect })

t.test('the role test route resolves members, and refuses cases it cannot run', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const { roleId } = await createRole(api.runtime.identity, systemCommand('test'), orgId, { name: 'Exporter', grants: exporter })
    const uma = await register(api, 'uma@a.example')
    await addMember(api.runtime.identity, systemCommand('test'), orgId, { userId: uma.userId, roles: ['viewer'] })
    await assignRole(api.runtime.identity, systemCommand('test'), orgId, uma.userId, roleId)
    const test = (cases: unknown[], role = roleId) => api.call('POST', `/v1/orgs/${orgId}/roles/${role}/test`, { body: { cases } })

    const ran = await test([exports({ id: uma.userId }, 'allow'), exports({ id: api.owner.userId }, 'allow'),
      exports({ id: 'x', roles: ['viewer'] }, 'deny'), exports(undefined, 'allow')])
    t.equal(ran.statusCode, 200, ran.body)
    t.match(ran.json(), { passed: 4, failed: 0 },
      'uma exports through her custom role, the owner as owner, a viewer not; no principal holds the role under test')
    type Explained = { explanation: { reason: string, deciding: Array<{ roleId: string }> } }
    const [umaCase, , viewerCase] = (ran.json() as { results: Explained[] }).results
    t.match(umaCase?.explanation, { reason: 'allowed', deciding: [{ roleId }] }, 'a passing case is explained: the grant that allowed it')
    t.match(viewerCase?.explanation, { reason: 'no_matching_grant' }, 'and a passing deny: no grant allows it')
    const viewerOnly = await test([exports({ id: uma.userId }, 'allow')], 'viewer')
    t.match(viewerOnly.json(), { passed: 1 }, 'a member is tested with their own roles, not the role in the path')

    const unknownMember = await test([exports({ id: uma.userId }, 'allow'), exports({ id: 'usr_nobody' }, 'deny')])
    problem(t, unknownMember, 400, 'rbac.case_unknown_member')
    t.match(unknownMember.json(), { cases: [{ case: 1, userId: 'usr_nobody' }] })
    const unknownRole = await test([exports({ roles: ['role_gone'] }, 'deny')])
    problem(t, unknownRole, 400, 'rbac.case_unknown_role')
    t.match(unknownRole.json(), { cases: [{ case: 0, roles: ['role_gone'] }] })
    problem(t, await test([{ ...exports(undefined, 'deny'), action: 'audit:exprt' }]), 400, 'rbac.unknown_action')
    problem(t, await test([exports(undefined, 'deny')], 'role_gone'), 404, 'rbac.role_not_found')
  })
})

async function envFor (driver: 'pglite' | 'postgres', t: Test): Promise<Record<string, string>> {
  if (driver === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'ledgerline-rbac-test-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    return { LEDGERLINE_DATA_DIR: dir }
  }
  const db = await openTestDatabase('postgres')
  t.teardown(db.dispose)
  await db.sql.close()
  return { DATABASE_URL: db.url! }
}

for (const driver of drivers()) {
  t.test(`ledgerline rbac test on ${driver}: members by id, cases without a principal refused`, async (t) => {
    const env = await envFor(driver, t)
    const boot = await cli(['bootstrap', '--email', 'root@acme.example', '--org', 'Acme', '--json'], env)
    t.equal(boot.code, 0, boot.stderr)
    const { orgId, userId } = JSON.parse(boot.stdout) as { orgId: string, userId: string }
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test', ...env }), pino({ level: 'silent' }))
    const { roleId } = await createRole(runtime.identity, systemCommand('test'), orgId, { name: 'Exporter', grants: exporter })
    const { userId: uma } = await registerUser(runtime.identity, systemCommand('test'), { email: 'uma@acme.example', displayName: 'Uma' })
    await addMember(runtime.identity, systemCommand('test'), orgId, { userId: uma, roles: ['viewer'] })
    await assignRole(runtime.identity, systemCommand('test'), orgId, uma, roleId)
    await runtime.close()

    const dir = mkdtempSync(join(tmpdir(), 'ledgerline-cases-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'cases.json')
    writeFileSync(file,
      JSON.stringify({ cases: [{ name: 'uma exports', ...exports({ id: uma }, 'allow') },
        { name: 'the owner too', ...exports({ id: userId }, 'allow') }] }))
    const run = await cli(['rbac', 'test', file, '--org', orgId, '--json'], env)
    t.equal(run.code, 0, run.stderr)
    t.match(JSON.parse(run.stdout), { passed: 2, failed: 0 })

    writeFileSync(file, JSON.stringify([exports(undefined, 'deny')]))
    const without = await cli(['rbac', 'test', file, '--org', orgId], env)
    t.equal(without.code, 1, 'a case without a principal fails the command')
    t.match(without.stderr, /rbac\.case_without_principal|must name its principal/)
    writeFileSync(file, JSON.stringify([exports({ roles: ['role_gone'] }, 'deny')]))
    const unknown = await cli(['rbac', 'test', file, '--org', orgId], env)
    t.equal(unknown.code, 1)
    t.match(unknown.stderr, /rbac\.case_unknown_role|role the organization does not have/)
  })
}
