/**
 * The assistant's world for tests: an application listening on a real port
 * (SSE and disconnects need a socket), its model a fake OpenAI-compatible
 * upstream (test/helpers/fake-openai.ts), Org A's owner, a member, a viewer
 * (no `ai:use`) and an outsider (the owner of another organization), each
 * with an API token; helpers to start conversations, send messages and read
 * the SSE stream back as parts with their ids. `secondNode` opens another
 * runtime and app over the same database, for resume on another node.
 */
import { pino } from 'pino'
import type { Test } from 'tap'
import { addMember, createToken, registerUser } from '../../src/application/identity/commands.ts'
import { systemCommand } from '../../src/domain/envelope.ts'
import type { BuiltInRole } from '../../src/domain/identity/events.ts'
import { buildApp } from '../../src/http/app.ts'
import { openRuntime, type Runtime } from '../../src/runtime.ts'
import type { SqlClient } from '../../src/sql/client.ts'
import { openTestApp, testConfig, type TestApp } from './app.ts'
import { settled } from './assertions.ts'
import { startFakeOpenAI, type FakeOpenAI } from './fake-openai.ts'

export interface Person { readonly userId: string, readonly token: string }

/** One SSE event as read: its id (when it had one) and its data (JSON parsed, or `[DONE]`). */
export interface SseEvent { readonly id: string | undefined, readonly data: unknown }

export interface AssistantOptions {
  /** Environment beyond the assistant's defaults (e.g. `{ OPENAI_API_KEY: '' }` for no model). */
  readonly env?: Record<string, string>
}

export interface AssistantApp {
  readonly api: TestApp
  readonly runtime: Runtime
  readonly fake: FakeOpenAI
  /** http://127.0.0.1:PORT of the listening app. */
  readonly url: string
  readonly orgId: string
  readonly owner: Person
  readonly member: Person
  readonly viewer: Person
  /** The owner of another organization. */
  readonly outsider: Person & { orgId: string }
  /** The environment the runtime was opened with (for a second node). */
  readonly env: Record<string, string>
  /** A member of Org A with these roles. */
  person(name: string, roles: BuiltInRole[]): Promise<Person>
  /** Starts a conversation as `who` (default: the member); its id. */
  conversation(who?: Person): Promise<string>
  /** POSTs a message (null: continue) and answers the raw response (read it with `readEvents`). */
  send(conversationId: string, text: string | null, who?: Person, init?: { signal?: AbortSignal, base?: string }): Promise<Response>
  /** Waits until the read models show everything written so far. */
  settled(): Promise<void>
}

export const conversationsUrl = (orgId: string): string => `/v1/orgs/${orgId}/assistant/conversations`

/** The assistant's test settings: the fake upstream, short chunk intervals, quick polls. */
export function assistantEnv (fake: FakeOpenAI, extra: Record<string, string> = {}): Record<string, string> {
  return { OPENAI_API_KEY: 'sk-test-key', OPENAI_BASE_URL: fake.baseURL, AI_MODEL: 'gpt-test', AI_CHUNK_INTERVAL_MS: '20', ...extra }
}

export async function startAssistantApp (t: Test, sql: SqlClient, options: AssistantOptions = {}): Promise<AssistantApp> {
  const fake = await startFakeOpenAI()
  t.teardown(() => fake.close())
  const env = assistantEnv(fake, options.env)
  const api = await openTestApp(t, sql, env)
  await api.runtime.jobs.stop()
  const url = await api.app.listen({ host: '127.0.0.1', port: 0 })
  const { orgId } = api.owner
  const services = api.runtime.identity
  const person = async (name: string, roles: BuiltInRole[]): Promise<Person> => {
    const command = systemCommand('assistant-test')
    const { userId } = await registerUser(services, command, { email: `${name}@assistant.example`, displayName: name })
    const { token } = await createToken(services, systemCommand('assistant-test'), userId, { name, kind: 'api' })
    const asOwner = { ...systemCommand('assistant-test'), actor: { type: 'user' as const, id: api.owner.userId }, orgId }
    await addMember(services, asOwner, orgId, { userId, roles })
    return { userId, token }
  }
  const other = await api.newOwner('outsider@b.example', 'Org B')
  const member = await person('member', ['member'])
  const viewer = await person('viewer', ['viewer'])
  const world: AssistantApp = {
    api,
    runtime: api.runtime,
    fake,
    url,
    orgId,
    owner: { userId: api.owner.userId, token: api.owner.token },
    member,
    viewer,
    outsider: { userId: other.userId, token: other.token, orgId: other.orgId },
    env,
    person,
    async conversation (who = member) {
      const response = await api.call('POST', conversationsUrl(orgId), { token: who.token })
      if (response.statusCode !== 201) throw new Error(`conversation not created: ${response.statusCode} ${response.body}`)
      return response.json<{ conversationId: string }>().conversationId
    },
    send (conversationId, text, who = member, init = {}) {
      return fetch(`${init.base ?? url}${conversationsUrl(orgId)}/${conversationId}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${who.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(text === null ? {} : { text }),
        ...(init.signal === undefined ? {} : { signal: init.signal })
      })
    },
    settled: () => settled(api.runtime)
  }
  return world
}

/** Another node: a runtime and a listening app over the same database, with the same settings. */
export async function secondNode (t: Test, sql: SqlClient, env: Record<string, string>): Promise<{ runtime: Runtime, url: string }> {
  const runtime = await openRuntime(testConfig(env), pino({ level: 'silent' }), { sql, runProjections: true, runJobs: false })
  t.teardown(() => runtime.close())
  const app = await buildApp(runtime)
  t.teardown(() => app.close())
  return { runtime, url: await app.listen({ host: '127.0.0.1', port: 0 }) }
}

/** Parses an SSE body into its events (comments, e.g. heartbeats, are left out). */
export function parseEvents (body: string): SseEvent[] {
  const events: SseEvent[] = []
  for (const block of body.split('\n\n')) {
    let id: string | undefined
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith('id: ')) id = line.slice(4)
      else if (line.startsWith('data: ')) data.push(line.slice(6))
    }
    if (data.length === 0) continue
    const text = data.join('\n')
    events.push({ id, data: text === '[DONE]' ? text : JSON.parse(text) as unknown })
  }
  return events
}

/** Reads a streamed response to its end. */
export async function readEvents (response: Response): Promise<SseEvent[]> {
  return parseEvents(await response.text())
}

/** The types of the parts, in order (`[DONE]` included). */
export const typesOf = (events: readonly SseEvent[]): string[] =>
  events.map((event) => event.data === '[DONE]' ? '[DONE]' : String((event.data as { type: string }).type))

/** The text the parts stream. */
export const textOf = (events: readonly SseEvent[]): string => events
  .filter((event) => (event.data as { type?: string }).type === 'text-delta')
  .map((event) => String((event.data as { delta: string }).delta)).join('')
