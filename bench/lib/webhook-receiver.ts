/**
 * The receiver of the webhook benchmark: a plain node:http server in the
 * bench's process that answers every POST 204 at once, as a receiver that
 * queues the message and returns does. It counts what arrives: messages by
 * their `webhook-id` (an at-least-once repeat counts once), the first arrival
 * of each source event (`data.eventId` of the Standard Webhooks payload), and
 * keeps a few messages whole for the caller to check their signatures.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'

export interface ReceivedMessage {
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export interface Receiver {
  readonly url: string
  /** POSTs answered, repeats included. */
  posts(): number
  /** Distinct `webhook-id`s received. */
  messages(): number
  /** When a source event's first message arrived (performance.now() ms), by event id. */
  firstArrival(eventId: string): number | undefined
  /** The first `keep` messages, whole. */
  samples(): readonly ReceivedMessage[]
  /** Forgets the counts and arrivals (not the samples). */
  reset(): void
  close(): Promise<void>
}

export async function startReceiver (keep = 8): Promise<Receiver> {
  let posts = 0
  let ids = new Set<string>()
  let arrivals = new Map<string, number>()
  const kept: ReceivedMessage[] = []
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const at = performance.now()
      posts++
      const body = Buffer.concat(chunks).toString('utf8')
      const id = header(request, 'webhook-id')
      if (id !== undefined) ids.add(id)
      const eventId = eventIdOf(body)
      if (eventId !== undefined && !arrivals.has(eventId)) arrivals.set(eventId, at)
      if (kept.length < keep) kept.push({ path: request.url ?? '/', headers: flat(request), body })
      response.writeHead(204).end()
    })
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('the receiver has no TCP port')
  return {
    url: `http://127.0.0.1:${address.port}`,
    posts: () => posts,
    messages: () => ids.size,
    firstArrival: (eventId) => arrivals.get(eventId),
    samples: () => kept,
    reset: () => {
      posts = 0
      ids = new Set()
      arrivals = new Map()
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}

function header (request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

function flat (request: IncomingMessage): Record<string, string> {
  return Object.fromEntries(Object.entries(request.headers)
    .map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value ?? '']))
}

/** The source event's id in a Standard Webhooks payload `{type, timestamp, data: {eventId, …}}`, if there is one. */
function eventIdOf (body: string): string | undefined {
  try {
    const eventId = (JSON.parse(body) as { data?: { eventId?: unknown } }).data?.eventId
    return typeof eventId === 'string' ? eventId : undefined
  } catch {
    return undefined
  }
}
