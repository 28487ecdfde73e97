/**
 * Receiving a message, once for ever: a verified message becomes
 * `webhook.received` in a stream of its own, keyed by source and message id,
 * appended with `no_stream`. The event's id derives from the stream, so a
 * duplicate, however it races the first (two deliveries at once, a retry
 * after a timeout), is told apart by the store itself: a version conflict or
 * a replayed append. Either way nothing is written and the sender hears 200
 * `{duplicate: true}`. Not a window like Hookdeck's hour: the stream is the
 * record, kept as long as the log.
 *
 * The sender's 2xx comes after the append. Processing is a job
 * (`webhook.process`) scheduled right after; should this node die in
 * between, the scheduling reactor (reactor.ts) schedules it from the log.
 */
import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import { metadataFor, uuidV5, type CommandMetadata } from '../../../domain/envelope.ts'
import type { InboundSourceKind, ReceivedData } from '../../../domain/webhooks/inbound-events.ts'
import { WrongExpectedVersion } from '../../../eventstore/errors.ts'
import { formatPosition } from '../../../eventstore/position.ts'
import type { EventStore } from '../../../eventstore/types.ts'
import type { InboundMetrics } from './metrics.ts'
import type { VerifiedMessage } from './verify.ts'

export const PROCESS_JOB_TYPE = 'webhook.process'

/** The stream of a message: `whin-stripe-<event id>` (Stripe's ids are safe as they are), `whin-<sourceId>-<sha256(id)>` otherwise. */
export function messageStreamId (source: InboundSourceKind, sourceId: string, messageId: string): string {
  if (source === 'stripe') return `whin-stripe-${messageId}`
  return `whin-${sourceId}-${createHash('sha256').update(messageId).digest('hex')}`
}

/** The processing job of a message: one id per stream, so scheduling it again (the route, the reactor, a retry) changes nothing. */
export function processJobId (streamId: string): string {
  return `whin_${createHash('sha256').update(streamId).digest('hex').slice(0, 48)}`
}

/** The one command that records a message: its id derives from the stream, so the event id is the same for every duplicate. */
export function receiveCommandId (streamId: string): string {
  return uuidV5(`webhook-in/${streamId}/received`)
}

export interface Scheduler {
  schedule(type: string, payload: unknown, options: { jobId: string, metadata: CommandMetadata }): Promise<unknown>
}

export interface ReceiveServices {
  readonly store: EventStore
  readonly jobs: Scheduler
  readonly metrics: InboundMetrics
  readonly logger: Logger
}

export interface ReceivedMessage {
  readonly source: InboundSourceKind
  readonly sourceId: string
  /** The organization, when the source is one's (Stripe's is found when processing). */
  readonly orgId?: string
  readonly message: VerifiedMessage
}

/** Who sent it, as the request tells: the address and agent for the event's metadata, and the trace. */
export interface RequestFacts { readonly traceId: string, readonly ip?: string, readonly userAgent?: string, readonly now: Date }

export interface Receipt {
  readonly duplicate: boolean
  readonly streamId: string
  readonly position: string | null
}

/** The system actor that schedules a message's processing. */
const ACTOR = 'webhooks-in'

export async function receiveMessage (services: ReceiveServices, received: ReceivedMessage, facts: RequestFacts): Promise<Receipt> {
  const { source, sourceId, orgId, message } = received
  const streamId = messageStreamId(source, sourceId, message.messageId)
  const command: CommandMetadata = {
    commandId: receiveCommandId(streamId),
    now: facts.now,
    actor: { type: 'service', id: source === 'stripe' ? 'stripe' : `webhook-source:${sourceId}` },
    traceId: facts.traceId,
    ...(orgId === undefined ? {} : { orgId }),
    ...(facts.ip === undefined ? {} : { ip: facts.ip }),
    ...(facts.userAgent === undefined ? {} : { userAgent: facts.userAgent })
  }
  const data: ReceivedData = {
    source, sourceId, messageId: message.messageId, eventType: message.eventType, receivedAt: facts.now.toISOString(),
    body: message.body as ReceivedData['body']
  }
  const metadata = metadataFor(command, 0)
  let appended
  try {
    appended = await services.store.append(streamId, [{ id: metadata.eventId, type: 'webhook.received', data, metadata }],
      { expectedVersion: 'no_stream' })
  } catch (error) {
    if (!(error instanceof WrongExpectedVersion)) throw error
    services.metrics.received(source, 'duplicate')
    return { duplicate: true, streamId, position: null }
  }
  if (appended.replayed === true) {
    services.metrics.received(source, 'duplicate')
    return { duplicate: true, streamId, position: null }
  }
  services.metrics.received(source, 'accepted')
  await scheduleProcessing(services, streamId, { ...command, actor: { type: 'system', id: ACTOR }, causationId: metadata.eventId })
  return { duplicate: false, streamId, position: formatPosition(appended.position) }
}

/**
 * Schedules the message's processing. The message is stored already: a failure here is logged, not answered, since the
 * reactor schedules the same job from the log.
 */
async function scheduleProcessing (services: ReceiveServices, streamId: string, metadata: CommandMetadata): Promise<void> {
  try {
    const jobId = processJobId(streamId)
    await services.jobs.schedule(PROCESS_JOB_TYPE, { streamId }, { jobId, metadata: { ...metadata, commandId: uuidV5(`job/${jobId}`) } })
  } catch (error) {
    services.logger.warn({ err: error, streamId }, 'webhook stored; its processing will be scheduled by the reactor')
  }
}
