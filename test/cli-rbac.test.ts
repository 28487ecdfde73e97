/**
 * `ledgerline rbac` as a user runs it, running policy tests from YAML and
 * managing custom roles of an organization made by `ledgerline bootstrap`.
 * The commands run in the test's process on one runtime over a PGlite
 * database (test/helpers/ledgerline.ts); test/cli.test.ts runs the CLI as a
 * process of its own. (Split from cli.test.ts so the files run in parallel.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import { openTestDatabase } from './helpers/databases.ts'
import { ledgerline, type CliRun } from './helpers/ledgerline.ts'

let runtime: Runtime
let owner: { orgId: string, userId: string }
const cli = (args: string[]): Promise<CliRun> => ledgerline(runtime, args)

t.before(async () => {
  const db = await openTestDatabase('pglite')
  t.teardown(db.dispose)
  runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), pino({ level: 'silent' }), { sql: db.sql, runProjections: true })
  t.teardown(() => runtime.close())
  owner = JSON.parse((await cli(['bootstrap', '--email', 'root@acme.example', '--org', 'Acme', '--json'])).stdout) as typeof owner
})

t.test('ledgerline rbac test runs YAML cases against an organization\'s policy and exits 1 on a failure', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ledgerline-rbac-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { orgId } = owner
  const cases = join(dir, 'cases.yaml')
  writeFileSync(cases, [
    'cases:',
    '  - name: owners change the plan',
    '    principal: { id: someone, roles: [owner] }',
    '    action: billing:update',
    '    resource: { type: organization }',
    '    expect: allow',
    '  - name: admins do not',
    '    principal: { id: someone, roles: [admin] }',
    '    action: billing:update',
    '    resource: { type: organization }',
    '    expect: allow',
    ''
  ].join('\n'))
  const run = await cli(['rbac', 'test', cases, '--org', orgId])
  t.equal(run.code, 1, 'a failing case fails the command')
  t.match(run.stdout, /✓ owners change the plan/)
  t.match(run.stdout, /✗ admins do not: expected allow, got deny\n\s+no grant of the principal's roles allows it/)
  t.match(run.stdout, /1 passed, 1 failed/)
  const json = await cli(['rbac', 'test', cases, '--org', orgId, '--json'])
  t.match(JSON.parse(json.stdout), { passed: 1, failed: 1 })
  writeFileSync(cases, '- action: nonsense\n')
  const bad = await cli(['rbac', 'test', cases, '--org', orgId])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /invalid input/)
})

t.test('ledgerline rbac manages custom roles: create from a grants file, assign, list, who holds an action', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ledgerline-roles-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { orgId, userId } = owner
  const grants = join(dir, 'grants.yaml')
  writeFileSync(grants, [
    'grants:',
    '  - actions: [member:invite]',
    '    resource: "*"',
    '    effect: allow',
    '    when: { eq: [{ ref: context.mfa }, true] }',
    ''
  ].join('\n'))
  const created = await cli(['rbac', 'create-role', '--org', orgId, '--name', 'Recruiter', '--grants', grants, '--json'])
  t.equal(created.code, 0, created.stderr)
  const { roleId } = JSON.parse(created.stdout) as { roleId: string }
  t.match(roleId, /^role_/)
  const assigned = await cli(['rbac', 'assign', '--org', orgId, '--role', roleId, '--user', userId])
  t.equal(assigned.code, 0, assigned.stderr)
  t.match(assigned.stdout, new RegExp(`assigned ${roleId} to ${userId}`))
  const roles = await cli(['rbac', 'roles', '--org', orgId])
  t.match(roles.stdout, new RegExp(`${roleId} Recruiter\\n  #0 allow member:invite on \\* ` +
    `when \\{"eq":\\[\\{"ref":"context.mfa"\\},true\\]\\}\\n  held by: ${userId}`))
  const holders = await cli(['rbac', 'holders', '--org', orgId, '--action', 'member:invite', '--json'])
  t.equal(holders.code, 0, holders.stderr)
  t.match(JSON.parse(holders.stdout), { action: 'member:invite', holders: [
    { userId, roleId: 'owner', effect: 'allow', conditional: false },
    { userId, roleId, effect: 'allow', conditional: true }
  ] })
  writeFileSync(grants, '- actions: [member:invite]\n  resource: "*"\n  effect: allow\n  when: { lt: [{ ref: principal.password }, 3] }\n')
  const bad = await cli(['rbac', 'set-grants', '--org', orgId, '--role', roleId, '--grants', grants])
  t.equal(bad.code, 1, 'a bad condition is refused before anything is written')
  t.match(bad.stderr, /rbac\.invalid_condition|invalid condition/)
})
