/**
 * The contract, for every tool the application registers: the loop below
 * covers a tool the day it is added. Each tool keeps its contract (schemas,
 * permission, resource, annotations, timeout, retries, approval); a test
 * registry gives it test bodies (counting, slow, failing, answering garbage)
 * so that what the pipeline guarantees is checked whatever the tool does.
 * Its real body runs in test/tools-business.test.ts.
 */
import t, { type Test } from 'tap'
import { applicationTools } from '../src/application/tools/business/index.ts'
import { ToolRegistry } from '../src/application/tools/registry.ts'
import type { AnyTool } from '../src/application/tools/tool.ts'
import { BLOCKED_ACTIONS } from '../src/domain/impersonation/blocked.ts'
import { Forbidden } from '../src/domain/identity/errors.ts'
import { LEDGERLINE_CATALOGUE } from '../src/domain/rbac/permissions.ts'
import type { GrantData } from '../src/domain/rbac/events.ts'
import type { Resource } from '../src/domain/rbac/policy.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { callThrough, eventTypes, openToolWorld, withBody, type ToolWorld } from './helpers/tools.ts'

const TOOLS = applicationTools()

t.test('registration refuses a destructive tool without approval, and retries of a tool that is not idempotent', async (t) => {
  const [tool] = TOOLS.filter((candidate) => candidate.annotations.destructiveHint)
  t.ok(tool, 'the application has a destructive tool')
  t.throws(() => new ToolRegistry(LEDGERLINE_CATALOGUE, [{ ...tool!, approval: 'never' }]), /a destructive tool needs approval/)
  const notIdempotent = { ...tool!, annotations: { ...tool!.annotations, idempotentHint: false }, retries: 1 }
  t.throws(() => new ToolRegistry(LEDGERLINE_CATALOGUE, [notIdempotent]), /only an idempotent tool may be retried/)
  t.throws(() => new ToolRegistry(LEDGERLINE_CATALOGUE, [tool!, tool!]), /a tool of this name is registered/)
  t.doesNotThrow(() => new ToolRegistry(LEDGERLINE_CATALOGUE, TOOLS), 'every application tool follows the contract')
})

t.test('every tool, through the pipeline', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openToolWorld(t, sql)
    // Holds the one action no tool needs: a member without any tool's permission.
    const bare = await world.member('bare', [{ actions: ['ai:use'], resource: '*', effect: 'allow' }])
    for (const tool of TOOLS) await t.test(tool.name, (t) => contract(t, world, tool, bare))
  })
})

async function contract (t: Test, world: ToolWorld, tool: AnyTool, bare: string): Promise<void> {
  t.not(tool.permission.action, 'ai:use', 'the bare member holds ai:use only, so no tool may need it')
  await t.test('garbage input is a tool error and runs nothing', (t) => garbage(t, world, tool))
  await t.test('a member without the permission is denied, and the denial is recorded', (t) => withoutPermission(t, world, tool, bare))
  await t.test('a member whose grant\'s condition fails on the tool\'s resource is denied; when it holds, the tool runs',
    (t) => conditions(t, world, tool))
  await t.test('a slow body times out, its signal aborted, and the timeout is recorded', (t) => slow(t, world, tool))
  await t.test('a failure that may pass is retried only when the tool is idempotent; a refusal never', (t) => retries(t, world, tool))
  await t.test('the output is validated: an invalid one is a failure and is never returned', (t) => output(t, world, tool))
  await t.test('a call leaves audit rows and a metric', (t) => audited(t, world, tool))
  await t.test('while impersonating, the call is refused if its permission is blocked, and runs otherwise',
    (t) => impersonated(t, world, tool))
}

const example = (tool: AnyTool): unknown => tool.examples[0]!.input

/** The tool with a body that counts its runs and answers the example's output. */
function counting (tool: AnyTool, changes: Partial<AnyTool> = {}): { tool: AnyTool, runs: () => number } {
  let runs = 0
  return { tool: withBody(tool, async () => { runs++; return tool.examples[0]!.output }, changes), runs: () => runs }
}

async function garbage (t: Test, world: ToolWorld, tool: AnyTool): Promise<void> {
  const { tool: test, runs } = counting(tool)
  const pipeline = world.pipeline([test])
  const inputs = [undefined, null, 'text', 42, [], { ...(example(tool) as object), 'not-a-field': true }]
  for (const input of inputs) {
    const outcome = await pipeline.call({ orgId: world.orgId, tool: tool.name, input, caller: world.caller(world.owner.userId),
      metadata: world.metadata(world.owner.userId) })
    t.match(outcome, { status: 'failed', error: { code: 'tool.invalid_input' } }, JSON.stringify(input) ?? 'undefined')
    t.same(eventTypes(await world.events(outcome.callId)), ['requested', 'failed'], 'recorded, attempt 0')
  }
  t.equal(runs(), 0, 'the body never ran')
}

async function withoutPermission (t: Test, world: ToolWorld, tool: AnyTool, bare: string): Promise<void> {
  const { tool: test, runs } = counting(tool)
  const outcome = await world.pipeline([test]).call({
    orgId: world.orgId, tool: tool.name, input: example(tool), caller: world.caller(bare), metadata: world.metadata(bare)
  })
  t.match(outcome, { status: 'denied', error: { code: 'tool.forbidden', details: { action: tool.permission.action } } })
  const events = await world.events(outcome.callId)
  t.same(eventTypes(events), ['requested', 'denied'])
  t.match(events[1], { data: { reason: 'forbidden', by: bare, action: tool.permission.action } })
  t.equal(runs(), 0, 'the body never ran')
}

/** An attribute of the example's resource to hold a condition on: one the input gave, else its id. */
function attributeOf (resource: Resource): [string, string | number | boolean] {
  const given = Object.entries(resource).find(([key, value]) => key !== 'type' && key !== 'id' &&
    ['string', 'number', 'boolean'].includes(typeof value))
  return (given ?? ['id', resource.id!]) as [string, string | number | boolean]
}

async function conditions (t: Test, world: ToolWorld, tool: AnyTool): Promise<void> {
  const input = tool.input.parse(example(tool))
  const [attribute, value] = attributeOf(tool.permission.resource(input, { orgId: world.orgId }))
  const grant = (op: 'eq' | 'ne'): GrantData[] => [{
    actions: [tool.permission.action], resource: '*', effect: 'allow',
    when: (op === 'eq' ? { eq: [{ ref: `resource.${attribute}` }, value] } : { ne: [{ ref: `resource.${attribute}` }, value] }) as
      GrantData['when']
  }]
  const failing = await world.member(`${tool.name}-ne`, grant('ne'))
  const holding = await world.member(`${tool.name}-eq`, grant('eq'))
  const { tool: test, runs } = counting(tool)
  const pipeline = world.pipeline([test])
  const denied = await callThrough(world, pipeline, tool.name, example(tool), world.caller(failing))
  t.match(denied, { status: 'denied', error: { code: 'tool.forbidden' } }, `resource.${attribute} ≠ ${String(value)} fails`)
  t.equal(runs(), 0)
  const allowed = await callThrough(world, pipeline, tool.name, example(tool), world.caller(holding))
  t.equal(allowed.status, 'succeeded', `resource.${attribute} = ${String(value)} holds`)
  t.equal(runs(), 1)
}

async function slow (t: Test, world: ToolWorld, tool: AnyTool): Promise<void> {
  let aborted = 0
  let runs = 0
  const test = withBody(tool, (_input, { signal }) => {
    runs++
    return new Promise((_resolve, reject) => signal.addEventListener('abort', () => { aborted++; reject(signal.reason) }))
  }, { timeoutMs: 30, backoff: { baseMs: 1, capMs: 5 } })
  const outcome = await callThrough(world, world.pipeline([test]), tool.name, example(tool), world.caller(world.owner.userId))
  t.match(outcome, { status: 'timed_out', error: { code: 'tool.timeout' } })
  const attempts = tool.annotations.idempotentHint ? 1 + tool.retries : 1
  const events = await world.events(outcome.callId)
  t.equal(events.filter((event) => event.type === 'ai.tool.call.timed_out').length, attempts, `${attempts} attempt(s), each timed out`)
  t.match(events.at(-1), { type: 'ai.tool.call.timed_out', data: { timeoutMs: 30, retryAt: null } })
  t.equal(runs, attempts)
  t.equal(aborted, attempts, 'each attempt\'s signal was aborted')
}

async function retries (t: Test, world: ToolWorld, tool: AnyTool): Promise<void> {
  let runs = 0
  const flaky = withBody(tool, async () => { runs++; throw new Error('connection reset') }, { backoff: { baseMs: 1, capMs: 5 } })
  const failed = await callThrough(world, world.pipeline([flaky]), tool.name, example(tool), world.caller(world.owner.userId))
  t.match(failed, { status: 'failed', error: { code: 'tool.failed', message: 'the tool failed' } }, 'says nothing of the cause')
  const attempts = tool.annotations.idempotentHint ? 1 + tool.retries : 1
  t.equal(runs, attempts, tool.annotations.idempotentHint ? `idempotent: ${attempts} attempt(s)` : 'not idempotent: one attempt')
  const started = (await world.events(failed.callId)).filter((event) => event.type === 'ai.tool.call.started')
  t.same(started.map((event) => event.data.attempt), Array.from({ length: attempts }, (_, i) => i + 1))
  runs = 0
  const refused = withBody(tool, async () => { runs++; throw new Forbidden('not here') })
  const outcome = await callThrough(world, world.pipeline([refused]), tool.name, example(tool), world.caller(world.owner.userId))
  t.match(outcome, { status: 'failed', error: { code: 'auth.forbidden' } }, 'the domain\'s refusal is the answer')
  t.equal(runs, 1, 'and is not retried')
}

async function output (t: Test, world: ToolWorld, tool: AnyTool): Promise<void> {
  for (const garbage of [undefined, null, 'text', { 'not-the-output': true }]) {
    const test = withBody(tool, async () => garbage)
    const outcome = await callThrough(world, world.pipeline([test]), tool.name, example(tool), world.caller(world.owner.userId))
    t.match(outcome, { status: 'failed', error: { code: 'tool.invalid_output' } }, JSON.stringify(garbage) ?? 'undefined')
    t.notOk('output' in outcome, 'nothing is returned')
    t.match((await world.events(outcome.callId)).at(-1),
      { type: 'ai.tool.call.failed', data: { code: 'tool.invalid_output', retryAt: null } })
  }
  const { tool: test } = counting(tool)
  const outcome = await callThrough(world, world.pipeline([test]), tool.name, example(tool), world.caller(world.owner.userId))
  t.same(outcome.status === 'succeeded' ? outcome.output : undefined, tool.output.parse(tool.examples[0]!.output), 'a valid output is')
}

async function audited (t: Test, world: ToolWorld, tool: AnyTool): Promise<void> {
  const { tool: test } = counting(tool)
  const outcome = await callThrough(world, world.pipeline([test]), tool.name, example(tool), world.caller(world.owner.userId))
  t.equal(outcome.status, 'succeeded')
  await world.caughtUp(outcome.position)
  const { rows } = await world.runtime.sql.query<{ action: string, org_id: string, actor_id: string, diff: Record<string, unknown> }>(
    "SELECT action, org_id, actor_id, diff FROM audit_events WHERE target_type = 'tool_call' AND target_id = $1 ORDER BY seq",
    [outcome.callId])
  const expected = tool.approval === 'never'
    ? ['requested', 'started', 'succeeded']
    : ['requested', 'approval_requested', 'approved', 'started', 'succeeded']
  t.same(rows.map((row) => row.action), expected.map((type) => `ai.tool.call.${type}`))
  t.ok(rows.every((row) => row.org_id === world.orgId && row.actor_id === world.owner.userId), 'in the organization, by the caller')
  t.match(rows[0]!.diff, { tool: { after: tool.name }, action: { after: tool.permission.action } })
  const calls = await world.metrics.getSingleMetric('ledgerline_tool_calls_total')!.get()
  const succeeded = calls.values.find((value) => value.labels.tool === tool.name && value.labels.outcome === 'succeeded')
  t.ok((succeeded?.value ?? 0) >= 1, 'ledgerline_tool_calls_total counts it')
  const durations = await world.metrics.getSingleMetric('ledgerline_tool_call_duration_seconds')!.get()
  t.ok(durations.values.some((value) => value.labels.tool === tool.name && value.labels.outcome === 'succeeded' &&
    (value as { metricName?: string }).metricName === 'ledgerline_tool_call_duration_seconds_count' && value.value >= 1), 'and times it')
}

async function impersonated (t: Test, world: ToolWorld, tool: AnyTool): Promise<void> {
  const { tool: test, runs } = counting(tool)
  const caller = world.caller(world.owner.userId, 'usr_impersonator')
  const outcome = await callThrough(world, world.pipeline([test]), tool.name, example(tool), caller)
  if (BLOCKED_ACTIONS.has(tool.permission.action)) {
    t.match(outcome, { status: 'denied', error: { code: 'impersonation.forbidden_action' } }, `${tool.permission.action} is blocked`)
    t.match((await world.events(outcome.callId)).at(-1), { type: 'ai.tool.call.denied', data: { reason: 'impersonation_blocked' } })
    t.equal(runs(), 0)
  } else {
    t.equal(outcome.status, 'succeeded', `${tool.permission.action} is not blocked`)
    t.equal(runs(), 1)
  }
}
