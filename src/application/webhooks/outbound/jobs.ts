/**
 * The outbound webhook jobs:
 * - `webhook.deliver {messageId}`: one message, on Svix's schedule (attempts
 *   after 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, ±10% jitter),
 *   honouring Retry-After; a 2xx ends it, a 410 disables the endpoint
 *   (`gone`) and ends it, the SSRF guard's refusal ends it; anything else is
 *   retried, unless the endpoint has been failing for WEBHOOK_DISABLE_AFTER_MS
 *   (5 days): then it is disabled (`failing`), the message held, and a probe
 *   scheduled. A message whose endpoint is disabled is held, not attempted;
 *   so is one with older messages of its endpoint held or a backlog under way
 *   (`behind_older`): a backlog is scheduled, which sends it after them. When
 *   the eighth attempt fails too the message is `exhausted` (an event; the
 *   job ends with that result, not dead: the receiver failed, not Ledgerline).
 * - `webhook.probe {endpointId}`: half-open. Tries the oldest held message of
 *   an endpoint disabled as `failing`, backing off from 5 min to 1 h; on a 2xx
 *   the endpoint is enabled again (`by: probe`) and the backlog scheduled.
 *   A `gone` endpoint is never probed: the receiver said so.
 * - `webhook.backlog {endpointId, since?}`: the held and pending messages (or,
 *   after a manual recovery, every one not delivered since `since`), one at a
 *   time, in the order they were created in the log; after any backlog of the
 *   endpoint scheduled before it has ended.
 *
 * Every job is idempotent by job id: an attempt records its send with a
 * command id derived from the job, its attempt and the message.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { z } from 'zod'
import { aggregate, readState } from '../../../domain/decider.ts'
import { endpointDecider, endpointStreamId, type EndpointState } from '../../../domain/webhooks/endpoint.ts'
import type { DisableReason } from '../../../domain/webhooks/endpoint-events.ts'
import type { LogPosition } from '../../../eventstore/types.ts'
import { MessageId, type HoldReason } from '../../../domain/webhooks/outbound-events.ts'
import { messageDecider, messageStreamId, type MessageState } from '../../../domain/webhooks/outbound-message.ts'
import { backlogOf, behindOlder, earlierBacklogRunning, failingSince } from '../../../projections/webhooks/outbound-queries.ts'
import { execute } from '../../commands.ts'
import { isPermanent, PermanentJobError, RetryLaterError, type JobContext, type JobHandler } from '../../jobs/handlers.ts'
import type { Jobs } from '../../jobs/jobs.ts'
import { attemptDelivery, type AttemptResult, type DeliveryServices } from './delivery.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
/** Svix's schedule after the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; 8 attempts in all. */
export const DELIVERY_DELAYS_MS = [5000, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]
export const DELIVERY_JITTER = 0.1
/** The probe's back-off: from 5 min to 1 h, then every hour (for about six weeks: 1000 attempts). */
export const PROBE_DELAYS_MS = [5 * MINUTE, 10 * MINUTE, 20 * MINUTE, 40 * MINUTE, HOUR]
const BACKLOG_PAGE = 100
/** How often a backlog looks whether the one before it has ended. */
const BACKLOG_WAIT_MS = 250
/** A delivery's retries, and the backlog's (it sends deliveries): Svix's schedule, 8 attempts. */
const DELIVERY_RETRIES = { backoff: { delaysMs: DELIVERY_DELAYS_MS, jitter: DELIVERY_JITTER }, maxAttempts: DELIVERY_DELAYS_MS.length + 1 }

export interface OutboundJobServices extends DeliveryServices {
  readonly jobs: () => Jobs
  /** Resolves when the outbound read model has reached `position` (a backlog reads its queue there). */
  readonly readModelAt: (position: LogPosition) => Promise<void>
}

type Sent = Exclude<MessageState, { status: 'none' }>

/** Another attempt is wanted: at the receiver's Retry-After when it gave one, else on the schedule. */
function retry (result: AttemptResult): Error {
  const message = `the receiver answered ${result.status ?? result.errorCode ?? 'nothing'}`
  const code = result.errorCode ?? 'webhook.delivery_failed'
  if (result.retryAfterMs !== undefined) return new RetryLaterError(message, code, result.retryAfterMs)
  return Object.assign(new Error(message), { code })
}

async function endpointOf (deps: OutboundJobServices, endpointId: string): Promise<EndpointState> {
  return (await readState(deps.services.store, endpointDecider, endpointStreamId(endpointId), deps.services.states)).state
}

async function disable (
  deps: OutboundJobServices, context: JobContext, orgId: string, endpointId: string, reason: DisableReason, extra: object
) {
  // The organization in the metadata, as every endpoint event has it: the row shows in that organization's audit log.
  await execute(deps.services, endpointDecider, endpointStreamId(endpointId), {
    type: 'DisableEndpoint', data: { reason, ...extra }
  }, { ...context.command(`disable/${endpointId}/${reason}`), orgId })
  if (reason === 'failing') await scheduleProbe(deps, endpointId)
}

/** One probe per endpoint at a time (its key), the first 5 minutes after the endpoint was disabled. */
export async function scheduleProbe (deps: OutboundJobServices, endpointId: string): Promise<void> {
  await deps.jobs().schedule('webhook.probe', { endpointId }, {
    key: endpointId, keyMode: 'preserve', runAt: new Date(deps.now().getTime() + PROBE_DELAYS_MS[0]!)
  })
}

async function hold (
  deps: OutboundJobServices, context: JobContext, message: Sent['message'], reason: HoldReason = 'endpoint_disabled'
): Promise<LogPosition | undefined> {
  const done = await execute(deps.services, messageDecider, messageStreamId(message.messageId), { type: 'HoldMessage', data: { reason } },
    { ...context.command(`hold/${message.messageId}/${context.attempt}`), orgId: message.orgId })
  return done.position
}

/**
 * Held behind older messages of its active endpoint: a backlog sends it after them. One that is waiting will (it reads the
 * queue when it starts, and the hold is in the read model first); else a new one, after the running one.
 */
async function holdBehindOlder (deps: OutboundJobServices, context: JobContext, message: Sent['message']): Promise<void> {
  const position = await hold(deps, context, message, 'behind_older')
  if (position !== undefined) await deps.readModelAt(position)
  await deps.jobs().schedule('webhook.backlog', { endpointId: message.endpointId }, { key: message.endpointId, keyMode: 'preserve' })
}

/** The eighth attempt failed too: the message ends `exhausted`, and the job with it (a resend or a recovery reopens it). */
async function exhaust (deps: OutboundJobServices, context: JobContext, message: Sent['message'], result: AttemptResult) {
  await execute(deps.services, messageDecider, messageStreamId(message.messageId), {
    type: 'ExhaustMessage', data: { errorCode: result.errorCode }
  }, { ...context.command(`exhaust/${message.messageId}/${context.attempt}`), orgId: message.orgId })
  deps.metrics.exhausted()
  return { outcome: 'exhausted', attempts: context.attempt, errorCode: result.errorCode }
}

/** Whether the endpoint has been failing for longer than the limit (its health in the read model). */
async function failingTooLong (deps: OutboundJobServices, endpointId: string): Promise<string | undefined> {
  const since = await failingSince(deps.sql, endpointId)
  if (since === null || deps.now().getTime() - since.getTime() < deps.disableAfterMs) return undefined
  return since.toISOString()
}

/**
 * A failed attempt's consequence: `gone` disables; a refusal is permanent; a long failing streak disables and holds
 * (answering 'held'); else the error that asks for a retry.
 */
async function afterFailure (deps: OutboundJobServices, context: JobContext, message: Sent['message'], result: AttemptResult) {
  const { endpointId, messageId } = message
  if (result.outcome === 'gone') {
    await disable(deps, context, message.orgId, endpointId, 'gone', { messageId })
    return new PermanentJobError('the receiver answered 410 Gone: the endpoint is disabled', 'http.410')
  }
  if (result.refusal !== undefined) return result.refusal
  const since = await failingTooLong(deps, endpointId)
  if (since === undefined) return retry(result)
  await hold(deps, context, message)
  await disable(deps, context, message.orgId, endpointId, 'failing', { failingSince: since })
  return undefined
}

async function loadMessage (deps: OutboundJobServices, messageId: string): Promise<Sent> {
  const state = await aggregate(deps.services.store, messageDecider, messageStreamId(messageId))
  if (state.status === 'none') throw new PermanentJobError(`no webhook message ${messageId}`, 'webhook.message_not_found')
  return state
}

const DeliverPayload = z.object({ messageId: MessageId, resend: z.boolean().optional() }).strict()

function deliverHandler (deps: OutboundJobServices): JobHandler<z.infer<typeof DeliverPayload>> {
  return {
    type: 'webhook.deliver',
    payload: DeliverPayload,
    timeoutSeconds: 60,
    ...DELIVERY_RETRIES,
    async handle ({ messageId, resend }, context) {
      const sent = await loadMessage(deps, messageId)
      if (resend !== true && (sent.status === 'delivered' || sent.status === 'gone')) return { outcome: sent.status }
      const endpoint = await endpointOf(deps, sent.message.endpointId)
      if (endpoint.status === 'none' || endpoint.status === 'deleted') return { outcome: 'endpoint_deleted' }
      if (endpoint.status === 'disabled') {
        await hold(deps, context, sent.message)
        return { outcome: 'held' }
      }
      // A resend is asked for by a person, for that message: it does not wait for the others.
      if (resend !== true && await behindOlder(deps.sql, sent.message.endpointId, messageId)) {
        await holdBehindOlder(deps, context, sent.message)
        return { outcome: 'held', reason: 'behind_older' }
      }
      const result = await attemptDelivery(deps, sent.message, endpoint.endpoint.url,
        context.command(`attempt/${messageId}/${context.attempt}`), context.signal)
      if (result.outcome === 'delivered') return { outcome: 'delivered', status: result.status }
      const error = await afterFailure(deps, context, sent.message, result)
      if (error === undefined) return { outcome: 'held' }
      if (context.attempt >= DELIVERY_RETRIES.maxAttempts && !isPermanent(error)) return exhaust(deps, context, sent.message, result)
      throw error
    }
  }
}

const EndpointPayload = z.object({ endpointId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) }).strict()

function probeHandler (deps: OutboundJobServices): JobHandler<z.infer<typeof EndpointPayload>> {
  return {
    type: 'webhook.probe',
    payload: EndpointPayload,
    timeoutSeconds: 60,
    backoff: { delaysMs: PROBE_DELAYS_MS, jitter: DELIVERY_JITTER },
    maxAttempts: 1000,
    async handle ({ endpointId }, context) {
      const endpoint = await endpointOf(deps, endpointId)
      if (endpoint.status !== 'disabled' || endpoint.reason !== 'failing') return { outcome: 'not_disabled' }
      const [oldest] = await backlogOf(deps.sql, endpointId, { limit: 1 })
      if (oldest !== undefined) {
        const sent = await loadMessage(deps, oldest.messageId)
        const result = await attemptDelivery(deps, sent.message, endpoint.endpoint.url,
          context.command(`probe/${oldest.messageId}/${context.attempt}`), context.signal)
        if (result.outcome === 'gone') {
          await disable(deps, context, endpoint.endpoint.orgId, endpointId, 'gone', { messageId: oldest.messageId })
          return { outcome: 'gone' }
        }
        if (result.outcome !== 'delivered') throw result.refusal ?? retry(result)
      }
      await execute(deps.services, endpointDecider, endpointStreamId(endpointId), { type: 'EnableEndpoint', data: { by: 'probe' } },
        context.command(`enable/${endpointId}`))
      await deps.jobs().schedule('webhook.backlog', { endpointId }, { key: endpointId, keyMode: 'replace' })
      return { outcome: 'enabled', probed: oldest?.messageId ?? null }
    }
  }
}

const BacklogPayload = EndpointPayload.extend({ since: z.iso.datetime().optional() }).strict()

function backlogHandler (deps: OutboundJobServices): JobHandler<z.infer<typeof BacklogPayload>> {
  return {
    type: 'webhook.backlog',
    payload: BacklogPayload,
    // Hundreds of messages one after another, each up to 15 s: the lease is renewed while it runs.
    timeoutSeconds: 3600,
    ...DELIVERY_RETRIES,
    async handle ({ endpointId, since }, context) {
      while (await earlierBacklogRunning(deps.sql, endpointId, context.jobId)) {
        await sleep(BACKLOG_WAIT_MS, undefined, { signal: context.signal })
      }
      let sent = 0
      let after: { major: string, minor: string } | undefined
      for (;;) {
        const page = await backlogOf(deps.sql, endpointId,
          { ...(since === undefined ? {} : { since }), ...(after === undefined ? {} : { after }), limit: BACKLOG_PAGE })
        if (page.length === 0) return { outcome: 'sent', sent }
        for (const queued of page) {
          const endpoint = await endpointOf(deps, endpointId)
          // Disabled again meanwhile: what is left stays held for the next probe.
          if (endpoint.status !== 'active') return { outcome: 'stopped', sent }
          const message = await loadMessage(deps, queued.messageId)
          // A gone or exhausted one is sent only after a recovery by hand (`since`): it had ended.
          const ended = message.status === 'gone' || message.status === 'exhausted'
          if (message.status === 'delivered' || (ended && since === undefined)) continue
          const result = await attemptDelivery(deps, message.message, endpoint.endpoint.url,
            context.command(`backlog/${queued.messageId}/${context.attempt}`), context.signal)
          if (result.outcome !== 'delivered') {
            // Still first in line: held again, so the retry of this job (or the next probe) starts with it.
            await hold(deps, context, message.message)
            const error = await afterFailure(deps, context, message.message, result)
            if (error !== undefined) throw error
            return { outcome: 'held', sent }
          }
          sent++
        }
        after = page.at(-1)
      }
    }
  }
}

export function outboundJobHandlers (deps: OutboundJobServices): JobHandler[] {
  return [deliverHandler(deps), probeHandler(deps), backlogHandler(deps)] as JobHandler[]
}
