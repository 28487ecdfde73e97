import type { Server } from '@modelcontextprotocol/sdk/server/index.js'
import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import t from 'tap'
import { McpSessions, type McpSession } from './sessions.ts'

/** A session whose server only counts its closing. */
function session (id: string, lastSeen: number, closed: string[], orgId = 'org_a', tokenId = 'tok_a'): McpSession {
  const server = { close: async () => { closed.push(id) } } as unknown as Server
  return { id, orgId, tokenId, server, transport: {} as WebStandardStreamableHTTPServerTransport, lastSeen }
}

t.test('a session is found only by its token in its organization', async (t) => {
  const closed: string[] = []
  const sessions = new McpSessions({ max: 10, idleMs: 1000 }, () => 0)
  sessions.add(session('s1', 0, closed))
  t.equal(sessions.get('s1', 'org_a', 'tok_a')?.id, 's1')
  t.equal(sessions.get('s1', 'org_a', 'tok_b'), undefined, 'another token')
  t.equal(sessions.get('s1', 'org_b', 'tok_a'), undefined, 'another organization')
  t.equal(sessions.get('s2', 'org_a', 'tok_a'), undefined, 'an unknown id')
  t.same(closed, [], 'asking with the wrong token closes nothing')
  sessions.remove('s1')
  t.equal(sessions.get('s1', 'org_a', 'tok_a'), undefined, 'removed')
})

t.test('a session idle for idleMs is closed when next asked for or when one is added', async (t) => {
  let now = 0
  const closed: string[] = []
  const sessions = new McpSessions({ max: 10, idleMs: 1000 }, () => now)
  sessions.add(session('s1', 0, closed))
  sessions.add(session('s2', 0, closed))
  now = 999
  t.ok(sessions.get('s1', 'org_a', 'tok_a'), 'one ms short of idle: still open, and its use counts')
  now = 1000
  t.equal(sessions.get('s2', 'org_a', 'tok_a'), undefined, 'idle for exactly idleMs: closed')
  t.same(closed, ['s2'])
  now = 1998
  sessions.add(session('s3', now, closed))
  t.same(closed, ['s2'], 's1, used at 999, is not idle at 1998')
  now = 1999
  sessions.add(session('s4', now, closed))
  t.same(closed, ['s2', 's1'], 'adding sweeps the idle ones')
  t.equal(sessions.size, 2)
})

t.test('at max sessions, a new one closes the least recently used', async (t) => {
  let now = 0
  const closed: string[] = []
  const sessions = new McpSessions({ max: 3, idleMs: 60_000 }, () => now)
  for (const id of ['s1', 's2', 's3']) sessions.add(session(id, now++, closed))
  t.equal(sessions.size, 3, 'max: all kept')
  sessions.get('s1', 'org_a', 'tok_a')
  sessions.add(session('s4', now++, closed))
  t.same(closed, ['s2'], 's1 was used last: s2 is the least recently used')
  t.equal(sessions.size, 3)
  sessions.add(session('s5', now++, closed))
  t.same(closed, ['s2', 's3'])
  await sessions.closeAll()
  t.same(closed.sort(), ['s1', 's2', 's3', 's4', 's5'])
  t.equal(sessions.size, 0)
})

t.test('a realistic number of sessions: 1,000 kept, the 1,001st evicts the first', async (t) => {
  const closed: string[] = []
  const sessions = new McpSessions(undefined, () => 0)
  for (let i = 0; i < 1000; i++) sessions.add(session(`s${i}`, 0, closed))
  t.equal(sessions.size, 1000)
  t.same(closed, [])
  sessions.add(session('s1000', 0, closed))
  t.same(closed, ['s0'])
  t.equal(sessions.size, 1000)
})
