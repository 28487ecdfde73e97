/**
 * `ledgerline impersonation list | revoke | support-access` as on-call runs
 * them: a real process on a PGlite data directory, or on a database of its
 * own on the PostgreSQL server, after sessions were started through the API.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { bootstrap, addMember, changeUser, registerUser } from '../src/application/identity/commands.ts'
import { requestImpersonation } from '../src/application/impersonation/commands.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import { openSqlClient } from '../src/sql/client.ts'
import { settled } from './helpers/assertions.ts'
import { cli } from './helpers/cli.ts'
import { drivers, noteSkippedServer, openTestDatabase } from './helpers/databases.ts'

interface Place { env: Record<string, string>, open: () => Promise<Runtime> }

async function place (driver: 'pglite' | 'postgres', t: Test): Promise<Place> {
  if (driver === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'ledgerline-imp-cli-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const env = { NODE_ENV: 'test', LEDGERLINE_DATA_DIR: dir }
    return { env, open: async () => openRuntime(loadConfig(env), pino({ level: 'silent' }), { runProjections: true }) }
  }
  const db = await openTestDatabase('postgres')
  t.teardown(db.dispose)
  const env = { NODE_ENV: 'test', DATABASE_URL: db.url! }
  return { env, open: async () =>
    openRuntime(loadConfig(env), pino({ level: 'silent' }), { runProjections: true, sql: await openSqlClient({ databaseUrl: db.url! }) }) }
}

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
  noteSkippedServer(t)
  for (const driver of drivers()) {
    await t.test(driver, async (t) => {
      const { env, open } = await place(driver, t)
      let runtime = await open()
      const { orgId, memberSession, supportSession } = await seed(runtime)
      // PGlite is one process: the CLI gets the directory to itself.
      if (driver === 'pglite') await runtime.close()
      else t.teardown(() => runtime.close())

      const active = await cli(['impersonation', 'list', '--status', 'active', '--json'], env)
      t.equal(active.code, 0, active.stderr)
      t.same(JSON.parse(active.stdout).items.map((s: { sessionId: string }) => s.sessionId).sort(), [memberSession, supportSession].sort())

      const off = await cli(['impersonation', 'support-access', orgId, 'off', '--json'], env)
      t.equal(off.code, 0, off.stderr)
      t.match(JSON.parse(off.stdout), { enabled: false, revoked: [supportSession] })

      const usage = await cli(['impersonation', 'revoke', '--reason', 'no target'], env)
      t.equal(usage.code, 2, 'a session id or --all is required')
      const noReason = await cli(['impersonation', 'revoke', memberSession], env)
      t.not(noReason.code, 0, 'a reason is required')

      const all = await cli(['impersonation', 'revoke', '--all', '--org', orgId, '--reason', 'incident INC-1: all sessions ended',
        '--json'], env)
      t.equal(all.code, 0, all.stderr)
      t.same(JSON.parse(all.stdout), { revoked: [memberSession] })
      const again = await cli(['impersonation', 'revoke', memberSession, '--reason', 'again'], env)
      t.equal(again.code, 0, again.stderr)
      t.match(again.stdout, /nothing to revoke/)

      const table = await cli(['impersonation', 'list', '--org', orgId], env)
      t.equal(table.code, 0, table.stderr)
      t.match(table.stdout, new RegExp(`${memberSession}\\s+revoked`))
      t.match(table.stdout, new RegExp(`${supportSession}\\s+revoked`))
      t.same(JSON.parse((await cli(['impersonation', 'list', '--status', 'active', '--json'], env)).stdout).items, [], 'nothing open')

      if (driver === 'pglite') {
        runtime = await open()
        t.teardown(() => runtime.close())
      }
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
  }
})
