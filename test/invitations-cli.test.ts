/**
 * `ledgerline members invitations <orgId>` and `… revoke <orgId> <inviteId>`
 * as an operator runs them, on PGlite and on a database of its own on the
 * PostgreSQL server. The commands run in the test's process on the test's
 * runtime (test/helpers/ledgerline.ts); on the server, where a process
 * starts quickly, the first listing runs as a process of its own.
 */
import { pino } from 'pino'
import t from 'tap'
import { bootstrap } from '../src/application/identity/commands.ts'
import { createInvitation, invitationServices } from '../src/application/identity/invitations.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { orgStreamId } from '../src/domain/identity/organization.ts'
import { openRuntime } from '../src/runtime.ts'
import { settled } from './helpers/assertions.ts'
import { cli as spawned } from './helpers/cli.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { ledgerline, type CliRun } from './helpers/ledgerline.ts'

t.test('ledgerline members invitations and members invitations revoke', async (t) => {
  await forEachDatabase(t, async (t, { sql, url }) => {
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), pino({ level: 'silent' }), { sql, runProjections: true })
    t.teardown(() => runtime.close())
    const owner = await bootstrap(runtime.identity, systemCommand('test'), { email: 'owner@cli.example', orgName: 'CLI Org' })
    const as = { ...systemCommand('test'), actor: { type: 'user' as const, id: owner.userId } }
    const services = invitationServices(runtime)
    const first = await createInvitation(services, { ...as, commandId: crypto.randomUUID() }, owner.orgId,
      { email: 'one@cli.example', roles: ['member'] })
    const second = await createInvitation(services, { ...as, commandId: crypto.randomUUID() }, owner.orgId,
      { email: 'two@cli.example', roles: ['viewer'] })
    await settled(runtime)
    const cli = (args: string[]): Promise<CliRun> => ledgerline(runtime, args)

    const listing = ['members', 'invitations', owner.orgId, '--json']
    const listed = url === undefined ? await cli(listing) : await spawned(listing, { NODE_ENV: 'test', DATABASE_URL: url })
    t.equal(listed.code, 0, listed.stderr)
    const items = JSON.parse(listed.stdout).items as Array<{ inviteId: string, status: string, email: string }>
    t.same(items.map((i) => [i.inviteId, i.status]).sort(), [[first.inviteId, 'pending'], [second.inviteId, 'pending']].sort())
    t.notOk(listed.stdout.includes(first.token.slice('llinv_'.length + 17)), 'no token in the output')

    const noReason = await cli(['members', 'invitations', 'revoke', owner.orgId, first.inviteId])
    t.not(noReason.code, 0, 'a reason is required')
    const badStatus = await cli(['members', 'invitations', owner.orgId, '--status', 'lost'])
    t.equal(badStatus.code, 2, badStatus.stderr)

    const revoked = await cli(['members', 'invitations', 'revoke', owner.orgId, first.inviteId, '--reason', 'sent by mistake', '--json'])
    t.equal(revoked.code, 0, revoked.stderr)
    t.match(JSON.parse(revoked.stdout), { inviteId: first.inviteId, position: /^\d+\.\d+$/ })
    const again = await cli(['members', 'invitations', 'revoke', owner.orgId, first.inviteId, '--reason', 'again'])
    t.equal(again.code, 0, again.stderr)
    t.match(again.stdout, /already revoked/)
    const unknown = await cli(['members', 'invitations', 'revoke', owner.orgId, 'inv_doesnotexist0000', '--reason', 'x'])
    t.equal(unknown.code, 1)
    t.match(unknown.stderr, /invitation not found/)

    const only = await cli(['members', 'invitations', owner.orgId, '--status', 'revoked'])
    t.equal(only.code, 0, only.stderr)
    t.match(only.stdout, new RegExp(`${first.inviteId}\\s+revoked .*by cli.*"sent by mistake"`))
    t.notMatch(only.stdout, second.inviteId)

    const events = await runtime.store.readStream(orgStreamId(owner.orgId))
    t.match(events.filter((e) => e.type === 'org.invitation.revoked'),
      [{ data: { inviteId: first.inviteId, reason: 'sent by mistake' }, metadata: { actor: { type: 'system', id: 'cli' } } }],
      'one revocation, by the CLI')
  })
})
