/**
 * `ledgerline webhooks endpoints | attempts | recover | resend`: outbound
 * webhooks for on-call — which endpoints an organization has and how they
 * are doing, what their deliveries answered, and the two manual fixes. Each
 * calls the same application function as the HTTP route
 * (src/application/webhooks/outbound/endpoints.ts), as the system
 * (`cli:webhooks`), which the events record as the actor.
 *
 * Reads wait until the outbound read model has applied the log as it is
 * now. The job runner is not started: the recovery's backlog and a resend
 * are jobs the server's nodes run.
 */
import type { Command } from 'commander'
import type { z } from 'zod'
import {
  listAttempts, listEndpoints, recoverEndpoint, resendMessage
} from '../../application/webhooks/outbound/endpoints.ts'
import { aggregate } from '../../domain/decider.ts'
import { systemCommand } from '../../domain/envelope.ts'
import { endpointDecider, endpointStreamId } from '../../domain/webhooks/endpoint.ts'
import { EndpointNotFound, MessageNotFound } from '../../domain/webhooks/endpoint-errors.ts'
import { MessageId } from '../../domain/webhooks/outbound-events.ts'
import { messageDecider, messageStreamId } from '../../domain/webhooks/outbound-message.ts'
import { Id, pgTimestamp } from '../../domain/values.ts'
import type { EndpointView } from '../../projections/webhooks/outbound-queries.ts'
import type { Runtime } from '../../runtime.ts'
import { print, toJson, withRuntime } from '../context.ts'

const PAGE = 200

/** The outbound read model as of now. */
async function caughtUp (runtime: Runtime): Promise<void> {
  runtime.runner.start()
  const everything = await runtime.store.committedHeadPosition()
  await runtime.runner.waitFor(everything, Math.max(runtime.config.consistencyTimeoutMs, 60_000), ['webhooks_out'])
}

/** Commander's exit for a bad option: the message, exit status 2, nothing opened. */
function usage (command: Command, message: string): never {
  command.error(message, { exitCode: 2 })
}

/** The flag's value as `schema` parses it, or a usage error. */
function checked<T> (command: Command, flag: string, schema: z.ZodType<T>, value: string): T {
  const parsed = schema.safeParse(value)
  if (!parsed.success) usage(command, `${flag} is not valid: ${JSON.stringify(value.slice(0, 80))}`)
  return parsed.data
}

const orDash = (value: string | null): string => value ?? '-'

function endpointLine (e: EndpointView): string {
  const health = e.state === 'active'
    ? (e.failingSince === null ? 'healthy' : `failing since ${e.failingSince}`)
    : `disabled (${orDash(e.disabledReason)}) since ${orDash(e.disabledAt)}`
  return `${e.endpointId}  ${e.state.padEnd(8)} ${e.url}  [${e.eventTypes.join(', ')}]  ${health}  last success ${orDash(e.lastSuccessAt)}`
}

/** Every item of a keyset list, page after page. */
async function all<T> (page: (cursor: string | undefined) => Promise<{ items: T[], nextCursor: string | null }>): Promise<T[]> {
  const items: T[] = []
  let cursor: string | undefined
  do {
    const next = await page(cursor)
    items.push(...next.items)
    cursor = next.nextCursor ?? undefined
  } while (cursor !== undefined)
  return items
}

async function orgOfEndpoint (runtime: Runtime, endpointId: string): Promise<string> {
  const state = await aggregate(runtime.store, endpointDecider, endpointStreamId(endpointId))
  if (state.status !== 'active' && state.status !== 'disabled') throw new EndpointNotFound()
  return state.endpoint.orgId
}

export function webhooksCommand (program: Command): Command {
  const group = program.command('webhooks')
    .description('webhooks: outbound endpoints and their health, attempts, recover, resend; replay inbound messages')

  const endpoints = group.command('endpoints')
    .description('an organization\'s endpoints, newest first: state, filters, health')
    .requiredOption('--org <orgId>', 'the organization')
    .option('--json', 'print {"items": [...]}')
    .action(async (options: { org: string, json?: boolean }) => {
      const orgId = checked<string>(endpoints, '--org', Id, options.org)
      const items = await withRuntime(async (runtime) => {
        await caughtUp(runtime)
        return all((cursor) => listEndpoints(runtime.sql, orgId, { limit: PAGE, cursor }))
      })
      if (options.json === true) print(toJson({ items }))
      else print(items.length === 0 ? 'no endpoints' : items.map(endpointLine).join('\n'))
    })

  const attempts = group.command('attempts')
    .description('an endpoint\'s delivery attempts, newest first: status, latency, error, the answer\'s first bytes, the message now')
    .requiredOption('--endpoint <endpointId>', 'the endpoint')
    .option('--limit <n>', 'at most this many (1 to 10000)', (value) => (/^\d{1,5}$/.test(value) ? Number(value) : Number.NaN), 50)
    .option('--json', 'print {"items": [...]}')
    .action(async (options: { endpoint: string, limit: number, json?: boolean }) => {
      const endpointId = checked<string>(attempts, '--endpoint', Id, options.endpoint)
      const { limit } = options
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) usage(attempts, '--limit must be a whole number from 1 to 10000')
      const items = await withRuntime(async (runtime) => {
        await caughtUp(runtime)
        const orgId = await orgOfEndpoint(runtime, endpointId)
        const found = []
        let cursor: string | undefined
        do {
          const page = await listAttempts(runtime.sql, orgId, endpointId, { limit: Math.min(PAGE, options.limit - found.length), cursor })
          found.push(...page.items)
          cursor = page.nextCursor ?? undefined
        } while (cursor !== undefined && found.length < options.limit)
        return found
      })
      if (options.json === true) print(toJson({ items }))
      else {
        print(items.length === 0 ? 'no attempts' : items.map((a) => `${a.at}  ${a.messageId} #${a.attempt}  ${a.outcome.padEnd(9)} ` +
          `${a.status ?? '-'}  ${a.latencyMs} ms  ${a.eventType}${a.errorCode === null ? '' : `  ${a.errorCode}`}  ` +
          `(message ${a.messageStatus})`)
          .join('\n'))
      }
    })

  const recover = group.command('recover')
    .description('enable an endpoint (a gone one too) and send again, in order, every message not delivered since --since')
    .requiredOption('--endpoint <endpointId>', 'the endpoint')
    .requiredOption('--since <time>', 'messages created at or after (a date or an ISO time)')
    .option('--json', 'print {"jobId", "position"}')
    .action(async (options: { endpoint: string, since: string, json?: boolean }) => {
      const endpointId = checked<string>(recover, '--endpoint', Id, options.endpoint)
      const since = new Date(checked<string>(recover, '--since', pgTimestamp, options.since))
      const done = await withRuntime(async (runtime) => {
        const orgId = await orgOfEndpoint(runtime, endpointId)
        return recoverEndpoint(runtime.webhooks.endpoints, orgId, endpointId, since, { ...systemCommand('cli:webhooks'), orgId })
      })
      print(options.json === true ? toJson(done) : `endpoint ${endpointId} enabled; job ${done.jobId} sends what was not delivered since ` +
        `${since.toISOString()}, in order`)
    })

  const resend = group.command('resend')
    .description('send one message again, delivered or not, with the same webhook-id')
    .requiredOption('--message <messageId>', 'the message (msg_…)')
    .option('--json', 'print {"jobId", "messageId"}')
    .action(async (options: { message: string, json?: boolean }) => {
      const messageId = checked<string>(resend, '--message', MessageId, options.message)
      const done = await withRuntime(async (runtime) => {
        const state = await aggregate(runtime.store, messageDecider, messageStreamId(messageId))
        if (state.status === 'none') throw new MessageNotFound()
        const { orgId } = state.message
        return resendMessage(runtime.webhooks.endpoints, orgId, messageId, { ...systemCommand('cli:webhooks'), orgId })
      })
      print(options.json === true ? toJson(done) : `message ${messageId} will be sent again by job ${done.jobId}`)
    })
  return group
}
