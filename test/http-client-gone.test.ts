/**
 * A client that leaves while its request is on its way (a closed tab, an
 * aborted fetch, a load balancer's timeout) must cost nothing but that
 * request: no unhandled rejection (which ends a Node process), and a command
 * whose body was read is recorded whole, with the address it came from. Once
 * a socket is closed Node no longer knows its peer's address, so the server
 * reads it when the request arrives.
 */
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { orgStreamId } from '../src/domain/identity/organization.ts'

t.test('a client that leaves while its request waits: no unhandled rejection, the command recorded with its address', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const address = await api.app.listen({ host: '127.0.0.1', port: 0 })
    const port = Number(new URL(address).port)
    const rejections: unknown[] = []
    const onRejection = (reason: unknown): void => { rejections.push(reason) }
    process.on('unhandledRejection', onRejection)
    t.teardown(() => { process.off('unhandledRejection', onRejection) })
    const gone = closedSockets(api)
    const { directory, policies } = api.runtime.identity
    const orgPath = `/v1/orgs/${api.owner.orgId}`

    // The token lookup (an onRequest hook, before the body is read), then the authorization (a preHandler, after it).
    const cases = [
      { name: 'a read, gone while its token is looked up', request: `GET ${orgPath}`, hold: gone.hold(directory, 'authenticate') },
      {
        name: 'a rename, gone while it is authorized', request: `PATCH ${orgPath}`, hold: gone.hold(policies, 'policyOf'),
        body: JSON.stringify({ name: 'Renamed while leaving' })
      }
    ]
    for (const { name, request, body, hold } of cases) {
      const client = connect(port, '127.0.0.1')
      await new Promise<void>((resolve) => client.once('connect', () => resolve()))
      const head = [`${request} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${api.owner.token}`,
        ...(body === undefined ? [] : ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`])]
      client.write(`${head.join('\r\n')}\r\n\r\n${body ?? ''}`)
      const { settled } = await hold()
      client.destroy()
      await settled
      // What runs after the hold (the rest of the hooks, the handler) is a few turns of the loop and a query or two away.
      await new Promise((resolve) => setTimeout(resolve, 300))
      t.same(rejections.map(String), [], `${name}: no unhandled rejection`)
    }

    const events = await api.runtime.store.readStream(orgStreamId(api.owner.orgId))
    const renamed = events.at(-1)!
    t.equal((renamed.data as { name?: string }).name, 'Renamed while leaving', 'the rename whose client left is recorded')
    t.equal(renamed.metadata.ip, '127.0.0.1', 'with the address it came from')
    await api.runtime.runner.waitFor(renamed.position, 20_000)
    const after = await fetch(`${address}${orgPath}`, { headers: { authorization: `Bearer ${api.owner.token}` } })
    t.equal(after.status, 200, 'the next request is answered')
    t.equal((await after.json() as { name: string }).name, 'Renamed while leaving')
  })
})

/**
 * `hold(target, method)` arms a one-time hold on `target[method]`: its next call waits until the server has closed the
 * connection of the latest request. The armed function resolves once that call is made, with a promise of its end.
 */
function closedSockets (api: TestApp): {
  hold<T extends object>(target: T, method: keyof T & string): () => Promise<{ settled: Promise<void> }>
} {
  const sockets: Socket[] = []
  api.app.server.on('connection', (socket: Socket) => { sockets.push(socket) })
  return {
    hold (target, method) {
      const original = (target[method] as (...args: unknown[]) => unknown).bind(target)
      return async () => new Promise<{ settled: Promise<void> }>((called) => {
        (target as Record<string, unknown>)[method] = (...args: unknown[]) => {
          (target as Record<string, unknown>)[method] = original
          const socket = sockets.at(-1)!
          const closed = new Promise<void>((resolve) => { if (socket.destroyed) resolve(); else socket.once('close', () => resolve()) })
          const result = closed.then(() => original(...args))
          // The caller waits on the result itself; the hold's copy only says when it settled (in an object: not adopted).
          called({ settled: result.then(() => undefined, () => undefined) })
          return result
        }
      })
    }
  }
}
