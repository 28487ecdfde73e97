/**
 * What the assistant shows, and to whom, over real HTTP on PGlite and
 * PostgreSQL: an impersonated member is offered exactly their tools less the
 * ones blocked while impersonating, and a call the model makes to one anyway
 * is refused, recorded and changes nothing; the audit log says that a
 * conversation, its message, its response and its tool calls happened, and
 * never what was said, in its pages or its exports; heartbeat comments flow
 * while a response waits on the model without garbling a part; and the
 * conversation list pages each of the caller's conversations exactly once,
 * newest first, to nobody else, at 0, 1 and a page size ± 1, at 300
 * (on one database) and over random counts and page sizes.
 */
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { conversationStreamId } from '../src/domain/assistant/events.ts'
import { BLOCKED_ACTIONS } from '../src/domain/impersonation/blocked.ts'
import { orgCursor } from '../src/domain/cursor.ts'
import { systemCommand, type CommandMetadata } from '../src/domain/envelope.ts'
import type { RecordedEvent } from '../src/eventstore/types.ts'
import {
  conversationsUrl, parseEvents, startAssistantApp, textOf, typesOf, type AssistantApp, type Person, type SseEvent
} from './helpers/assistant.ts'
import { lastWritten, untilVisible } from './helpers/assertions.ts'
import { forEachDatabase, scaleDriver } from './helpers/databases.ts'
import { until } from './helpers/jobs-harness.ts'

type Part = Record<string, unknown> & { type: string }
const partsOf = (events: readonly SseEvent[]): Part[] => events.filter((e) => e.data !== '[DONE]').map((e) => e.data as Part)
const offered = (body: Record<string, unknown> | undefined): string[] =>
  ((body?.tools ?? []) as Array<{ function: { name: string } }>).map((tool) => tool.function.name).sort()

const invite = (email: string): string => JSON.stringify({ email, roles: ['viewer'] })

interface Answer { status: number, type: string, text: string, json: <T = Record<string, unknown>>() => T }

/** One request over the app's socket (not inject): what a client sees. */
async function http (w: AssistantApp, method: 'GET' | 'POST' | 'PUT', path: string, who: Person | string, body?: unknown): Promise<Answer> {
  const token = typeof who === 'string' ? who : who.token
  const response = await fetch(`${w.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  return { status: response.status, type: response.headers.get('content-type') ?? '', text, json: <T>() => JSON.parse(text) as T }
}

/** Sends a message as `token` (a person's, or an impersonation's) and reads the stream to its end. */
async function ask (w: AssistantApp, conversationId: string, text: string, token: string): Promise<SseEvent[]> {
  const response = await fetch(`${w.url}${conversationsUrl(w.orgId)}/${conversationId}/messages`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ text })
  })
  if (response.status !== 200) throw new Error(`message answered ${response.status}: ${await response.text()}`)
  return parseEvents(await response.text())
}

async function converse (w: AssistantApp, token: string): Promise<string> {
  const created = await http(w, 'POST', conversationsUrl(w.orgId), token)
  if (created.status !== 201) throw new Error(`conversation not created: ${created.status} ${created.text}`)
  return created.json<{ conversationId: string }>().conversationId
}

/** The conversation's events once its usage is recorded (the response's last write, which the client may outrun). */
async function charged (w: AssistantApp, conversationId: string): Promise<RecordedEvent[]> {
  return until('the usage record', async () => {
    const events = await w.runtime.store.readStream(conversationStreamId(conversationId))
    return events.some((event) => event.type === 'ai.usage.recorded') ? events : undefined
  })
}

t.test('an impersonated member is not offered, and may not call, the tools blocked while impersonating', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await startAssistantApp(t, sql)
    // A member who may invite (not a critical account, so no break-glass): member:invite is blocked while impersonating,
    // so their own list has a tool an impersonation must lose, and the comparison cannot hold by both lists being empty.
    const staffer = await w.person('staffer', ['member'])
    const role = await http(w, 'POST', `/v1/orgs/${w.orgId}/roles`, w.owner,
      { name: 'Inviter', grants: [{ actions: ['member:invite'], resource: '*', effect: 'allow' }] })
    t.equal(role.status, 201, role.text)
    const roleId = role.json<{ roleId: string }>().roleId
    const assigned = await http(w, 'PUT', `/v1/orgs/${w.orgId}/members/${staffer.userId}/roles/${roleId}`, w.owner)
    t.equal(assigned.status, 200, assigned.text)
    await w.settled()
    const blockedTools = w.runtime.tools.deps.registry.list().filter(({ tool }) => BLOCKED_ACTIONS.has(tool.permission.action))
      .map(({ tool }) => tool.name.replaceAll('.', '__'))

    // As themselves: offered the invitation tool, and the model's call to it runs.
    w.fake.enqueue(
      { toolCalls: [{ id: 'call_own', name: 'members__invite', arguments: invite('own@invitee.example') }] },
      { text: ['Invited.'] })
    let before = w.fake.requests.length
    const own = partsOf(await ask(w, await converse(w, staffer.token), 'Invite own@invitee.example', staffer.token))
    const ownTools = offered(w.fake.requests[before]!.body)
    t.ok(ownTools.includes('members__invite'), `the member is offered the invitation tool: ${ownTools.join(', ')}`)
    t.match(own.find((p) => p.type === 'tool-output-available'), { toolCallId: 'call_own', output: { email: 'own@invitee.example' } },
      'not impersonated, the same call runs')

    const started = await http(w, 'POST', `/v1/orgs/${w.orgId}/impersonations`, w.owner,
      { targetUserId: staffer.userId, reason: 'checking what the assistant offers this member' })
    t.equal(started.status, 201, started.text)
    const { token, sessionId } = started.json<{ token: string, sessionId: string }>()

    w.fake.enqueue(
      { toolCalls: [{ id: 'call_imp', name: 'members__invite', arguments: invite('imp@invitee.example') }] },
      { text: ['I may not do that now.'] })
    before = w.fake.requests.length
    const conversationId = await converse(w, token)
    const events = await ask(w, conversationId, 'Invite imp@invitee.example', token)
    const impersonatedTools = offered(w.fake.requests[before]!.body)
    t.strictSame(impersonatedTools, ownTools.filter((name) => !blockedTools.includes(name)),
      `impersonated: the member's own tools less the blocked ones (${impersonatedTools.join(', ')})`)
    t.ok(impersonatedTools.length > 0 && impersonatedTools.length < ownTools.length, 'some tools remain, some went')

    const error = partsOf(events).find((p) => p.type === 'tool-output-error')
    t.match(error, { toolCallId: 'call_imp', errorText: /^impersonation\.forbidden_action/ }, 'the call is refused, as a tool error')
    t.notOk(partsOf(events).some((p) => p.type === 'tool-output-available' || p.type === 'tool-approval-request'), 'nothing ran')
    const told = w.fake.requests[before + 1]!.body!.messages as Array<{ role: string, tool_call_id?: string, content: string }>
    t.match(told.at(-1), { role: 'tool', tool_call_id: 'call_imp' })
    t.match(JSON.parse(told.at(-1)!.content), { error: /impersonation\.forbidden_action/ }, 'the model is told')
    t.equal(textOf(events), 'I may not do that now.')

    // The log reads only below the oldest transaction open on the server (another test file's, say): wait until it shows everything.
    await untilVisible(w.runtime.store, await lastWritten(w.runtime.sql))
    const denied = (await w.runtime.store.readAll({ major: 0n, minor: 0n }, { types: ['ai.tool.call.denied'], limit: 10_000 })).events
    t.equal(denied.length, 1, 'one denial')
    t.match(denied[0], {
      metadata: { actor: { id: staffer.userId }, impersonatorId: w.owner.userId },
      data: { reason: 'impersonation_blocked', action: 'member:invite', by: staffer.userId }
    }, 'recorded as the member\'s, under the impersonation')
    await w.settled()
    const invitations = await http(w, 'GET', `/v1/orgs/${w.orgId}/invitations?limit=200`, w.owner)
    t.equal(invitations.status, 200, invitations.text)
    t.strictSame(invitations.json<{ items: Array<{ email: string }> }>().items.map((i) => i.email), ['own@invitee.example'],
      'no invitation was made under the impersonation')
    const session = await http(w, 'GET', `/v1/orgs/${w.orgId}/impersonations/${sessionId}`, w.owner)
    t.equal(session.json<{ status: string }>().status, 'active', 'the session itself goes on')
  })
})

const MESSAGE = 'Quillwort-7731 asks about the marmalade ledger'
const ANSWER = ['Vexillology-5528 ', 'says the ledger ', 'is Zugzwang-9064.']

t.test('the audit log shows that a conversation happened, never what was said', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await startAssistantApp(t, sql)
    w.fake.enqueue(
      { toolCalls: [{ id: 'call_org', name: 'org__get', arguments: '{}' }], usage: { prompt_tokens: 30, completion_tokens: 3 } },
      { text: ANSWER, usage: { prompt_tokens: 40, completion_tokens: 9 } })
    const conversationId = await converse(w, w.member.token)
    const events = await ask(w, conversationId, MESSAGE, w.member.token)
    t.equal(textOf(events), ANSWER.join(''))
    await charged(w, conversationId)
    // The texts are in the system, for the conversation's owner: a search for them below could find them if they leaked.
    const shown = await http(w, 'GET', `${conversationsUrl(w.orgId)}/${conversationId}`, w.member)
    t.ok(shown.text.includes(MESSAGE) && shown.text.includes(ANSWER.join('')), 'the owner reads both texts back')
    await w.settled()

    const page = await http(w, 'GET', `/v1/orgs/${w.orgId}/audit-events?limit=500`, w.owner)
    t.equal(page.status, 200, page.text.slice(0, 300))
    const rows = page.json<{ items: Array<{ action: string, actorId: string, targetType: string | null, targetId: string | null,
      diff: Record<string, { after?: unknown }> | null }>, nextCursor: string | null }>()
    t.equal(rows.nextCursor, null, 'the whole log in one page')
    const about = rows.items.filter((row) => row.targetType === 'conversation' && row.targetId === conversationId)
    const actions = new Set(about.map((row) => row.action))
    const expected = ['ai.conversation.started', 'ai.message.added', 'ai.response.started', 'ai.response.completed', 'ai.usage.recorded']
    for (const action of expected) {
      t.ok(actions.has(action), `${action} is in the log`)
    }
    t.ok(about.every((row) => row.actorId === w.member.userId), 'each as the member\'s')
    t.match(about.find((row) => row.action === 'ai.message.added')?.diff, { chars: { after: MESSAGE.length } }, 'the message\'s size')
    t.match(about.find((row) => row.action === 'ai.usage.recorded')?.diff, { inputTokens: { after: 70 }, outputTokens: { after: 12 } })
    const calls = rows.items.filter((row) => row.action.startsWith('ai.tool.call.'))
    t.strictSame(calls.map((row) => row.action).sort(), ['ai.tool.call.requested', 'ai.tool.call.started', 'ai.tool.call.succeeded'],
      'the tool call\'s rows')
    t.match(calls.find((row) => row.action === 'ai.tool.call.requested')?.diff, { tool: { after: 'org.get' } })

    const csv = await http(w, 'GET', `/v1/orgs/${w.orgId}/audit-events/export?format=csv`, w.owner)
    const ndjson = await http(w, 'GET', `/v1/orgs/${w.orgId}/audit-events/export?format=ndjson`, w.owner)
    for (const [name, body] of [['the page', page], ['the CSV export', csv], ['the NDJSON export', ndjson]] as const) {
      t.equal(body.status, 200, `${name}: 200`)
      t.ok(body.text.includes(conversationId) && body.text.includes('ai.message.added'), `${name} has the conversation's rows`)
      for (const secret of [MESSAGE, 'Quillwort-7731', ...ANSWER.map((piece) => piece.trim()), 'Vexillology-5528', 'Zugzwang-9064']) {
        t.notOk(body.text.includes(secret), `${name} does not hold "${secret}"`)
      }
    }
  })
})

t.test('heartbeats flow while a response waits on the model, and the parts parse whole around them', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await startAssistantApp(t, sql, { env: { AI_HEARTBEAT_MS: '50' } })
    // Two text chunks, then the model goes quiet (the socket stays open): only heartbeats come until the stop.
    w.fake.enqueue({ text: ['Thinking ', 'hard'], chunkDelayMs: 5, stallAfterChunks: 2 })
    const conversationId = await converse(w, w.member.token)
    const response = await w.send(conversationId, 'take your time')
    t.equal(response.status, 200)
    // Heartbeats start once the route has sent its headers: one due earlier once sent them without this one.
    t.equal(response.headers.get('x-vercel-ai-ui-message-stream'), 'v1', 'the protocol header, heartbeats notwithstanding')
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let raw = ''
    const heartbeatsAfterText = (): number => {
      const at = raw.indexOf('"delta":"hard"')
      return at === -1 ? 0 : raw.slice(at).split('\n').filter((line) => line.startsWith(':')).length
    }
    while (heartbeatsAfterText() < 3) {
      const { value, done } = await reader.read()
      if (done) break
      raw += decoder.decode(value, { stream: true })
    }
    t.ok(heartbeatsAfterText() >= 3, `heartbeat comments while the model is silent: ${heartbeatsAfterText()}`)
    const stopped = await http(w, 'POST', `${conversationsUrl(w.orgId)}/${conversationId}/stop`, w.member)
    t.equal(stopped.status, 202, stopped.text)
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      raw += decoder.decode(value, { stream: true })
    }
    const comments = raw.split('\n').filter((line) => line.startsWith(':'))
    t.ok(comments.every((line) => line === ': heartbeat'), 'every comment line is a heartbeat')

    const events = parseEvents(raw)
    t.strictSame(typesOf(events), ['start', 'start-step', 'text-start', 'text-delta', 'text-delta', 'text-end', 'abort', '[DONE]'],
      'the parts, whole and in order, around the heartbeats')
    t.equal(textOf(events), 'Thinking hard')
    const withoutComments = parseEvents(raw.split('\n').filter((line) => !line.startsWith(':')).join('\n'))
    t.strictSame(events, withoutComments, 'the heartbeats change nothing the parser reads')
    // The same parts from the store (no heartbeats interleaved in what was recorded): same ids, same data.
    const replay = await fetch(`${w.url}${conversationsUrl(w.orgId)}/${conversationId}/stream`, {
      headers: { authorization: `Bearer ${w.member.token}`, 'last-event-id': events[0]!.id! }
    })
    t.strictSame(parseEvents(await replay.text()), events.slice(1), 'the live parts are the stored ones')
    const stored = await charged(w, conversationId)
    t.match(stored.find((e) => e.type === 'ai.response.aborted')?.data, { reason: 'stopped' })
  })
})

interface Summary { conversationId: string, createdAt: string, messages: number }
interface ListPage { items: Summary[], nextCursor: string | null }

/** Every page of `who`'s conversations from the first, following nextCursor; checks each page's length and cursor. */
async function walk (t: Test, w: AssistantApp, who: Person, limit: number | undefined): Promise<{ items: Summary[], pages: number }> {
  const size = limit ?? 50
  const items: Summary[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const query = [limit === undefined ? '' : `limit=${limit}`, cursor === null ? '' : `cursor=${cursor}`].filter(Boolean).join('&')
    const answer = await http(w, 'GET', `${conversationsUrl(w.orgId)}${query === '' ? '' : `?${query}`}`, who)
    if (answer.status !== 200) throw new Error(`the list answered ${answer.status}: ${answer.text}`)
    const page = answer.json<ListPage>()
    pages++
    if (page.nextCursor !== null && page.items.length !== size) t.fail(`page ${pages}: ${page.items.length} items, a cursor, limit ${size}`)
    if (page.items.length > size) t.fail(`page ${pages} is longer than its limit`)
    items.push(...page.items)
    cursor = page.nextCursor
  } while (cursor !== null && pages < 1000)
  return { items, pages }
}

interface Made { conversationId: string, createdAt: string }

/** The list's order: newest first, ties by id, byte-wise, descending. */
const byListOrder = (a: { createdAt: string, conversationId: string }, b: { createdAt: string, conversationId: string }): number =>
  a.createdAt === b.createdAt ? (a.conversationId < b.conversationId ? 1 : -1) : (a.createdAt < b.createdAt ? 1 : -1)

/** Conversations of `owner` made by the application function, with the creation times given (ms after `base`). */
async function created (w: AssistantApp, owner: Person, offsets: readonly number[], base: number): Promise<Made[]> {
  const made: Made[] = []
  for (const offset of offsets) {
    const now = new Date(base + offset)
    const metadata: CommandMetadata = {
      ...systemCommand('assistant-visibility-test', now), actor: { type: 'user', id: owner.userId }, orgId: w.orgId
    }
    const { conversationId } = await w.runtime.assistant.create(w.orgId, owner.userId, metadata)
    made.push({ conversationId, createdAt: now.toISOString() })
  }
  return made
}

let people = 0
const lister = (w: AssistantApp): Promise<Person> => w.person(`lister${++people}`, ['member'])

t.test('the conversation list pages each of the caller\'s conversations once, newest first, and only to them', async (t) => {
  await forEachDatabase(t, async (t, { sql, driver }) => {
    const w = await startAssistantApp(t, sql)
    const limit = 5

    await t.test('0, 1, the page size - 1, the page size and the page size + 1 conversations, made over HTTP', async (t) => {
      for (const count of [0, 1, limit - 1, limit, limit + 1]) {
        const owner = await lister(w)
        const made: string[] = []
        for (let i = 0; i < count; i++) made.push(await converse(w, owner.token))
        await w.settled()
        const { items, pages } = await walk(t, w, owner, limit)
        t.equal(pages, Math.max(1, Math.ceil(count / limit)), `${count}: ${pages} page(s), a full last page has no cursor`)
        t.strictSame(items.map((item) => item.conversationId).sort(), [...made].sort(), `${count}: each conversation exactly once`)
        t.strictSame(items, [...items].sort(byListOrder), `${count}: newest first`)
        // Made one after another, so where their times differ the later one comes first.
        const rank = new Map(made.map((id, i) => [id, i]))
        t.ok(items.every((item, i) => i === 0 || item.createdAt === items[i - 1]!.createdAt ||
          rank.get(item.conversationId)! < rank.get(items[i - 1]!.conversationId)!), `${count}: later conversations first`)
        const others = await walk(t, w, w.member, limit)
        t.notOk(others.items.some((item) => made.includes(item.conversationId)), `${count}: another member sees none of them`)
      }
      const theOwner = await walk(t, w, w.owner, undefined)
      t.strictSame(theOwner.items, [], 'nor does the organization\'s owner')
    })

    await t.test('a bad cursor or limit is 400 problem+json', async (t) => {
      const owner = await lister(w)
      await created(w, owner, [0, 1, 2], Date.now() - 10_000)
      await w.settled()
      const first = await http(w, 'GET', `${conversationsUrl(w.orgId)}?limit=1`, owner)
      const next = first.json<ListPage>().nextCursor!
      t.type(next, 'string')
      const ours = (value: unknown): string => Buffer.from(JSON.stringify(['ai-conversations.1', value])).toString('base64url')
      const bad: Array<[string, string]> = [
        ['cursor=nope', 'http.invalid_cursor'],
        [`cursor=${orgCursor.encode({ orgId: 'org_abcdefghij' })}`, 'http.invalid_cursor'],
        [`cursor=${ours({ createdAt: 'yesterday', conversationId: 'cnv_abcdefghij' })}`, 'http.invalid_cursor'],
        [`cursor=${ours({ createdAt: '2026-01-01T00:00:00.000Z', conversationId: 'not a conversation' })}`, 'http.invalid_cursor'],
        [`cursor=${next.slice(0, -3)}`, 'http.invalid_cursor'],
        ['limit=0', 'http.validation'], ['limit=201', 'http.validation'], ['limit=-1', 'http.validation'], ['limit=2.5', 'http.validation'],
        ['limit=five', 'http.validation'], ['limit=', 'http.validation'], ['sort=asc', 'http.validation']
      ]
      for (const [query, code] of bad) {
        const answer = await http(w, 'GET', `${conversationsUrl(w.orgId)}?${query}`, owner)
        t.equal(answer.status, 400, `${query}: 400`)
        t.match(answer.type, /^application\/problem\+json/, `${query}: problem+json`)
        t.equal(answer.json<{ code: string }>().code, code, `${query}: ${code}`)
      }
      const max = await http(w, 'GET', `${conversationsUrl(w.orgId)}?limit=200&cursor=${next}`, owner)
      t.equal(max.json<ListPage>().items.length, 2, 'the largest limit and a good cursor: the other two')
    })

    if (driver === scaleDriver()) {
      await t.test('300 conversations, every page walked', async (t) => {
        const owner = await lister(w)
        // A second apart, so the order is known; one pair shares its time, split across the default page's boundary.
        const offsets = Array.from({ length: 300 }, (_, i) => i === 250 ? 249_000 : i * 1000)
        const made = await created(w, owner, offsets, Date.now() - 400_000)
        await w.settled()
        const expected = [...made].sort(byListOrder).map((item) => item.conversationId)
        for (const limit of [undefined, 7, 200]) {
          const { items, pages } = await walk(t, w, owner, limit)
          t.equal(pages, Math.ceil(300 / (limit ?? 50)), `limit ${limit ?? 'default'}: ${pages} pages`)
          const named = `limit ${limit ?? 'default'}`
          t.strictSame(items.map((item) => item.conversationId), expected, `${named}: each of the 300 once, newest first`)
        }
        const others = await walk(t, w, w.member, undefined)
        t.notOk(others.items.some((item) => expected.includes(item.conversationId)), 'another member sees none of them')
      })
    } else {
      t.comment(`300 conversations: on ${scaleDriver()} only; 0, 1 and the page size ± 1 run here too`)
    }

    await t.test('any count and page size list the same conversations', async (t) => {
      const base = Date.now() - 100_000
      // Creation times drawn from a few seconds: many share a time, so ties fall on page boundaries.
      const times = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 30, size: 'max' })
      await fc.assert(fc.asyncProperty(times, fc.integer({ min: 1, max: 10 }), async (seconds, size) => {
        const owner = await lister(w)
        const made = await created(w, owner, seconds.map((s) => s * 1000), base)
        await w.settled()
        const { items, pages } = await walk(t, w, owner, size)
        const expected = [...made].sort(byListOrder).map((item) => item.conversationId)
        t.equal(pages, Math.max(1, Math.ceil(made.length / size)), `${made.length} by ${size}: ${pages} pages`)
        t.strictSame(items.map((item) => item.conversationId), expected, `${made.length} by ${size}: each once, newest first`)
        return pages === Math.max(1, Math.ceil(made.length / size)) &&
          JSON.stringify(items.map((item) => item.conversationId)) === JSON.stringify(expected)
      }), { numRuns: 8 })
    })
  })
})
