/**
 * `ledgerline impersonation list | revoke | support-access` as on-call runs
 * them, on PGlite and on a database of its own on the PostgreSQL server,
 * after sessions were started through the application. The commands run in
 * the test's process on the test's runtime (test/helpers/ledgerline.ts); on
 * the server, where a process starts quickly, the first listing runs as a
 * process of its own, opening and closing its own runtime.
 */
import { pino } from 'pino'
import t from 'tap'
import { bootstrap, addMember, changeUser, registerUser } from '../src/application/identity/commands.ts'
import { requestImpersonation } from '../src/application/impersonation/commands.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import { settled } from './helpers/assertions.ts'
import { cli as spawned } from './helpers/cli.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { ledgerline, type CliRun } from './helpers/ledgerline.ts'

/** An owner, two members, and two open sessions of one admin and one support agent; answers what the CLI will be asked about. */
async function seed (runtime: Runtime): Promise<{ orgId: string, memberSession: string, supportSession: string }> {
  const services = runtime.impersonation
  const owner = await bootstrap(runtime.identity, systemCommand('test'), { email: 'owner@cli.example', orgName: 'CLI Org' })
  const admin = await registerUser(runtime.identity, systemCommand('test'), { email: 'admin@cli.example', displayName: 'admin' })
  const member = await registerUser(runtime.identity, systemCommand('test'), { email: 'member@cli.example', displayName: 'member' })
  const agent = await registerUser(runtime.identity, systemCommand('test'), { email: 'agent@support.example', displayName: 'agent' })
  await addMember(runtime.identity, systemCommand('test'), owner.orgId, { userId: admin.userId, roles: ['admin'] })
  await addMember(runtime.identity, systemCommand('test'), owner.orgId, { userId: member.userId, roles: ['member'] })
  await changeUser(runtime.identity, systemCommand('test'), agent.userId,
    { type: 'SetStaffFlags', data: { platformAdmin: false, platformSupport: true } })
  const reason = 'helping the customer with an invoice'
  const first = await requestImpersonation(services, systemCommand('test'), owner.orgId,
    { userId: admin.userId, impersonating: false, via: 'member' }, { targetUserId: member.userId, reason })
  const second = await requestImpersonation(services, systemCommand('test'), owner.orgId,
    { userId: agent.userId, impersonating: false, via: 'support' }, { targetUserId: member.userId, reason })
  await settled(runtime)
  return { orgId: owner.orgId, memberSession: first.sessionId, supportSession: second.sessionId }
}

t.test('ledgerline impersonation list, revoke and support-access', async (t) => {
  await forEachDatabase(t, async (t, { sql, url }) => {
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), pino({ level: 'silent' }), { sql, runProjections: true })
    t.teardown(() => runtime.close())
    const { orgId, memberSession, supportSession } = await seed(runtime)
    const cli = (args: string[]): Promise<CliRun> => ledgerline(runtime, args)

    const listing = ['impersonation', 'list', '--status', 'active', '--json']
    const active = url === undefined ? await cli(listing) : await spawned(listing, { NODE_ENV: 'test', DATABASE_URL: url })
    t.equal(active.code, 0, active.stderr)
    t.same(JSON.parse(active.stdout).items.map((s: { sessionId: string }) => s.sessionId).sort(), [memberSession, supportSession].sort())

    const off = await cli(['impersonation', 'support-access', orgId, 'off', '--json'])
    t.equal(off.code, 0, off.stderr)
    t.match(JSON.parse(off.stdout), { enabled: false, revoked: [supportSession] })

    const usage = await cli(['impersonation', 'revoke', '--reason', 'no target'])
    t.equal(usage.code, 2, 'a session id or --all is required')
    const noReason = await cli(['impersonation', 'revoke', memberSession])
    t.not(noReason.code, 0, 'a reason is required')

    const all = await cli(['impersonation', 'revoke', '--all', '--org', orgId, '--reason', 'incident INC-1: all sessions ended', '--json'])
    t.equal(all.code, 0, all.stderr)
    t.same(JSON.parse(all.stdout), { revoked: [memberSession] })
    const again = await cli(['impersonation', 'revoke', memberSession, '--reason', 'again'])
    t.equal(again.code, 0, again.stderr)
    t.match(again.stdout, /nothing to revoke/)

    const table = await cli(['impersonation', 'list', '--org', orgId])
    t.equal(table.code, 0, table.stderr)
    t.match(table.stdout, new RegExp(`${memberSession}\\s+revoked`))
    t.match(table.stdout, new RegExp(`${supportSession}\\s+revoked`))
    t.same(JSON.parse((await cli(['impersonation', 'list', '--status', 'active', '--json'])).stdout).items, [], 'nothing open')

    await settled(runtime)
    const { rows } = await runtime.sql.query<{ action: string, actor_id: string, diff: Record<string, { after?: unknown }> }>(
      "SELECT action, actor_id, diff FROM audit_events WHERE org_id = $1 " +
      "AND action IN ('impersonation.session.revoked', 'org.organization.support_access_set') ORDER BY seq", [orgId])
    t.same(rows.map((row) => [row.action, row.actor_id, row.diff.reason?.after ?? row.diff.supportAccess?.after]), [
      ['org.organization.support_access_set', 'cli', false],
      ['impersonation.session.revoked', 'cli', 'support_access_disabled'],
      ['impersonation.session.revoked', 'cli', 'revoked']
    ])
    t.equal(rows[2]!.diff.note?.after, 'incident INC-1: all sessions ended')
  })
})
