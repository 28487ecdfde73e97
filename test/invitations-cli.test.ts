/**
 * `ledgerline members invitations <orgId>` and `… revoke <orgId> <inviteId>`
 * as an operator runs them: a real process on a PGlite data directory, or on
 * a database of its own on the PostgreSQL server.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { bootstrap } from '../src/application/identity/commands.ts'
import { createInvitation, invitationServices } from '../src/application/identity/invitations.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { orgStreamId } from '../src/domain/identity/organization.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import { openSqlClient } from '../src/sql/client.ts'
import { settled } from './helpers/assertions.ts'
import { cli } from './helpers/cli.ts'
import { drivers, noteSkippedServer, openTestDatabase } from './helpers/databases.ts'

interface Place { env: Record<string, string>, open: () => Promise<Runtime> }

async function place (driver: 'pglite' | 'postgres', t: Test): Promise<Place> {
  if (driver === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'ledgerline-inv-cli-'))
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

t.test('ledgerline members invitations and members invitations revoke', async (t) => {
  noteSkippedServer(t)
  for (const driver of drivers()) {
    await t.test(driver, async (t) => {
      const { env, open } = await place(driver, t)
      const runtime = await open()
      const owner = await bootstrap(runtime.identity, systemCommand('test'), { email: 'owner@cli.example', orgName: 'CLI Org' })
      const as = { ...systemCommand('test'), actor: { type: 'user' as const, id: owner.userId } }
      const services = invitationServices(runtime)
      const first = await createInvitation(services, { ...as, commandId: crypto.randomUUID() }, owner.orgId,
        { email: 'one@cli.example', roles: ['member'] })
      const second = await createInvitation(services, { ...as, commandId: crypto.randomUUID() }, owner.orgId,
        { email: 'two@cli.example', roles: ['viewer'] })
      await settled(runtime)
      // PGlite is one process: the CLI gets the directory to itself.
      if (driver === 'pglite') await runtime.close()
      else t.teardown(() => runtime.close())

      const listed = await cli(['members', 'invitations', owner.orgId, '--json'], env)
      t.equal(listed.code, 0, listed.stderr)
      const items = JSON.parse(listed.stdout).items as Array<{ inviteId: string, status: string, email: string }>
      t.same(items.map((i) => [i.inviteId, i.status]).sort(), [[first.inviteId, 'pending'], [second.inviteId, 'pending']].sort())
      t.notOk(listed.stdout.includes(first.token.slice('llinv_'.length + 17)), 'no token in the output')

      const noReason = await cli(['members', 'invitations', 'revoke', owner.orgId, first.inviteId], env)
      t.not(noReason.code, 0, 'a reason is required')
      const badStatus = await cli(['members', 'invitations', owner.orgId, '--status', 'lost'], env)
      t.equal(badStatus.code, 2, badStatus.stderr)

      const revoked = await cli(['members', 'invitations', 'revoke', owner.orgId, first.inviteId, '--reason', 'sent by mistake', '--json'],
        env)
      t.equal(revoked.code, 0, revoked.stderr)
      t.match(JSON.parse(revoked.stdout), { inviteId: first.inviteId, position: /^\d+\.\d+$/ })
      const again = await cli(['members', 'invitations', 'revoke', owner.orgId, first.inviteId, '--reason', 'again'], env)
      t.equal(again.code, 0, again.stderr)
      t.match(again.stdout, /already revoked/)
      const unknown = await cli(['members', 'invitations', 'revoke', owner.orgId, 'inv_doesnotexist0000', '--reason', 'x'], env)
      t.equal(unknown.code, 1)
      t.match(unknown.stderr, /invitation not found/)

      const only = await cli(['members', 'invitations', owner.orgId, '--status', 'revoked'], env)
      t.equal(only.code, 0, only.stderr)
      t.match(only.stdout, new RegExp(`${first.inviteId}\\s+revoked .*by cli.*"sent by mistake"`))
      t.notMatch(only.stdout, second.inviteId)

      const check = driver === 'pglite' ? await open() : runtime
      if (driver === 'pglite') t.teardown(() => check.close())
      const events = await check.store.readStream(orgStreamId(owner.orgId))
      t.match(events.filter((e) => e.type === 'org.invitation.revoked'),
        [{ data: { inviteId: first.inviteId, reason: 'sent by mistake' }, metadata: { actor: { type: 'system', id: 'cli' } } }],
        'one revocation, by the CLI')
    })
  }
})
