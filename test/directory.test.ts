/**
 * The principal directory across two nodes sharing one database: a change
 * made on one node reaches the other through its live subscription, and the
 * node that made it sees it at once.
 */
import { pino } from 'pino'
import t from 'tap'
import { bootstrap, changeOrganization, registerUser, addMember, revokeToken, createToken } from '../src/application/identity/commands.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import { forEachDatabase } from './helpers/databases.ts'

async function until (check: () => Promise<boolean>, timeoutMs = 5000): Promise<number> {
  const started = Date.now()
  while (!await check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return Date.now() - started
}

t.test('a revocation or a role change on one node reaches the other node\'s directory', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const open = async (): Promise<Runtime> => {
      const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), pino({ level: 'silent' }), { sql, runProjections: true })
      t.teardown(() => runtime.close())
      return runtime
    }
    const a = await open()
    const b = await open()
    const owner = await bootstrap(a.identity, systemCommand('test'), { email: 'owner@a.example', orgName: 'A' })
    const principal = await b.identity.directory.authenticate(owner.token)
    t.equal(principal?.userId, owner.userId, 'a token made on node A works on node B at once (read from its stream)')

    const second = await createToken(a.identity, systemCommand('test'), owner.userId, { name: 'second', kind: 'api' })
    t.ok(await b.identity.directory.authenticate(second.token), 'cached on B')
    await revokeToken(a.identity, systemCommand('test'), owner.userId, second.tokenId)
    t.equal(await a.identity.directory.authenticate(second.token), undefined, 'refused at once on the node that revoked it')
    const delay = await until(async () => await b.identity.directory.authenticate(second.token) === undefined)
    t.pass(`refused on node B ${delay} ms later`)

    const { userId } = await registerUser(a.identity, systemCommand('test'), { email: 'member@a.example', displayName: 'M' })
    await addMember(a.identity, systemCommand('test'), owner.orgId, { userId, roles: ['admin'] })
    t.same((await a.identity.directory.membershipsOf(userId)).map((m) => m.roles), [['admin']],
      'the node that added the member sees it on the next read')
    await until(async () => (await b.identity.directory.membershipsOf(userId)).length === 1)
    await changeOrganization(a.identity, systemCommand('test'), owner.orgId, { type: 'AssignRole', data: { userId, role: 'viewer' } })
    await changeOrganization(a.identity, systemCommand('test'), owner.orgId, { type: 'UnassignRole', data: { userId, role: 'admin' } })
    t.same((await a.identity.directory.membershipsOf(userId)).map((m) => m.roles), [['viewer']],
      'a demotion applies to the next request on the node that made it')
    const demoted = await until(async () => (await b.identity.directory.membershipsOf(userId))[0]?.roles.join() === 'viewer')
    t.pass(`and on node B ${demoted} ms later`)
    await changeOrganization(a.identity, systemCommand('test'), owner.orgId, { type: 'RenameOrganization', data: { name: 'A renamed' } })
    await until(async () => (await b.identity.directory.membershipsOf(userId))[0]?.name === 'A renamed')
    t.pass('a rename reaches cached memberships too')
  })
})
