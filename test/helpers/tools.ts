/**
 * The tool pipeline over a test database: a runtime (projections running),
 * an organization with its owner, members made to measure, and pipelines
 * over test registries whose tools keep their contract but get a test body
 * (slow, failing, answering garbage), with metrics on a registry of their own.
 */
import { pino } from 'pino'
import { Registry } from 'prom-client'
import type { Test } from 'tap'
import {
  addMember, assignRole, bootstrap, createRole, registerUser, unassignRole, type Bootstrapped
} from '../../src/application/identity/commands.ts'
import { ToolMetrics } from '../../src/application/tools/metrics.ts'
import type { ToolCallOutcome } from '../../src/application/tools/outcome.ts'
import { ToolPipeline } from '../../src/application/tools/pipeline.ts'
import { ToolRegistry } from '../../src/application/tools/registry.ts'
import type { AnyTool, ToolCaller, ToolContext } from '../../src/application/tools/tool.ts'
import { systemCommand, type CommandMetadata } from '../../src/domain/envelope.ts'
import type { GrantData } from '../../src/domain/rbac/events.ts'
import { toolCallStreamId } from '../../src/domain/tools/call.ts'
import type { ToolCallEvent } from '../../src/domain/tools/events.ts'
import { parsePosition } from '../../src/eventstore/position.ts'
import { openRuntime, type Runtime } from '../../src/runtime.ts'
import type { SqlClient } from '../../src/sql/client.ts'
import { testConfig } from './app.ts'
import { settled } from './assertions.ts'

export interface ToolWorld {
  readonly runtime: Runtime
  readonly owner: Bootstrapped
  readonly orgId: string
  /** Metrics of the test pipelines. */
  readonly metrics: Registry
  /** A member whose only role grants `grants` (and nothing else: no built-in role). */
  member(name: string, grants: GrantData[]): Promise<string>
  /** A pipeline over `tools`, each checked against the contract as registration does (`now`: its clock). */
  pipeline(tools: readonly AnyTool[], now?: () => Date): ToolPipeline
  metadata(userId: string): CommandMetadata
  caller(userId: string, impersonatorId?: string): ToolCaller
  events(callId: string): Promise<ToolCallEvent[]>
  /** Waits until the read models have applied `position`. */
  caughtUp(position: string | null): Promise<void>
}

/** `env`: settings beyond NODE_ENV=test, e.g. the Stripe fake's (test/helpers/stripe-fake.ts) for the billing tools. */
export async function openToolWorld (t: Test, sql: SqlClient, env: Record<string, string> = {}): Promise<ToolWorld> {
  const runtime = await openRuntime(testConfig(env), pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    { sql, runProjections: true, runJobs: false })
  t.teardown(() => runtime.close())
  const services = runtime.identity
  const owner = await bootstrap(services, systemCommand('test'), { email: 'owner@tools.example', orgName: 'Tools Org' })
  const { orgId } = owner
  // Tools read the read models: the organization and its owner must be projected before the first call (everything
  // written, not the visible head, which another transaction on the server can hold back: docs/testing.md).
  const projected = async (): Promise<void> => settled(runtime, 20_000)
  await projected()
  const asOwner = (): CommandMetadata => ({ ...systemCommand('test'), actor: { type: 'user', id: owner.userId }, orgId })
  const metrics = new Registry()
  const observer = new ToolMetrics(metrics)
  return {
    runtime,
    owner,
    orgId,
    metrics,
    async member (name, grants) {
      const { userId } = await registerUser(services, systemCommand('test'), { email: `${name}@tools.example`, displayName: name })
      await addMember(services, asOwner(), orgId, { userId, roles: ['viewer'] })
      const { roleId } = await createRole(services, asOwner(), orgId, { name: `only ${name}`, grants })
      await assignRole(services, asOwner(), orgId, userId, roleId)
      await unassignRole(services, asOwner(), orgId, userId, 'viewer')
      await projected()
      return userId
    },
    pipeline: (tools, now) => new ToolPipeline({
      services: runtime.tools.deps.services, registry: new ToolRegistry(runtime.catalogue, tools), observer,
      ...(now === undefined ? {} : { now })
    }),
    metadata: (userId) => ({ ...systemCommand('test'), actor: { type: 'user', id: userId } }),
    caller: (userId, impersonatorId) => ({
      userId, platformAdmin: false, platformSupport: false,
      ...(impersonatorId === undefined ? {} : { impersonation: impersonationOf(orgId, impersonatorId) })
    }),
    async events (callId) {
      return (await runtime.store.readStream(toolCallStreamId(callId))).map((e) => ({ type: e.type, data: e.data }) as ToolCallEvent)
    },
    async caughtUp (position) {
      if (position !== null) await runtime.runner.waitFor(parsePosition(position)!, 20_000)
    }
  }
}

function impersonationOf (orgId: string, impersonatorId: string): NonNullable<ToolCaller['impersonation']> {
  const now = new Date()
  return {
    sessionId: 'imp_test', orgId, impersonatorId, via: 'member', reason: 'a test', ticket: null, breakGlass: false,
    startedAt: now.toISOString(), expiresAt: new Date(now.getTime() + 30 * 60_000).toISOString(), target: 'active'
  }
}

/** The tool with another body (and any other change), its contract otherwise intact. */
export function withBody (
  tool: AnyTool, run: (input: unknown, context: ToolContext) => Promise<unknown>, changes: Partial<AnyTool> = {}
): AnyTool {
  return { ...tool, ...changes, run }
}

/** Calls as `caller`; a call that waits for approval is approved by the same caller, and its outcome answered. */
export async function callThrough (
  world: ToolWorld, pipeline: ToolPipeline, tool: string, input: unknown, caller: ToolCaller
): Promise<ToolCallOutcome> {
  const metadata = world.metadata(caller.userId)
  const outcome = await pipeline.call({ orgId: world.orgId, tool, input, caller, metadata })
  if (outcome.status !== 'approval_required') return outcome
  return pipeline.approve({ orgId: world.orgId, callId: outcome.callId, caller, metadata: world.metadata(caller.userId) })
}

export function eventTypes (events: readonly ToolCallEvent[]): string[] {
  return events.map((event) => event.type.slice('ai.tool.call.'.length))
}
