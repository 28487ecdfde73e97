/**
 * The fan-out: a reactor over the organization events that may be
 * subscribed (src/domain/webhooks/outbound-filters.ts) and the endpoint
 * events. For each event and each endpoint of its organization whose filters
 * match it, `webhook.message.created` is appended with `no_stream` to the
 * message's stream (its id derives from the endpoint and the event), and its
 * delivery job is scheduled with an id derived from the message: a replay of
 * the reactor writes nothing new.
 *
 * An endpoint gets the events after it was created (by log position), never
 * the history before it. One disabled after failures or a 410 still gets its
 * messages, held: the probe or a recovery sends them later, in order.
 *
 * Endpoints are cached per organization and dropped when one of the
 * organization's endpoint events passes, so thousands of events cost one
 * read per organization. A miss waits for the read model to reach the
 * event first: an endpoint created just before is then in it.
 */
import { WrongExpectedVersion } from '../../../eventstore/errors.ts'
import { metadataFor, uuidV5 } from '../../../domain/envelope.ts'
import { ENDPOINT_EVENT_TYPES } from '../../../domain/webhooks/endpoint-events.ts'
import { matchesAny, subscribable } from '../../../domain/webhooks/outbound-filters.ts'
import { payloadOf } from '../../../domain/webhooks/outbound-payload.ts'
import { messageIdOf, messageStreamId } from '../../../domain/webhooks/outbound-message.ts'
import { comparePositions } from '../../../eventstore/position.ts'
import type { EventStore, LogPosition, RecordedEvent } from '../../../eventstore/types.ts'
import { subscriptionsOf, type Subscription } from '../../../projections/webhooks/outbound-queries.ts'
import type { SqlClient } from '../../../sql/client.ts'
import type { Jobs } from '../../jobs/jobs.ts'
import type { Reactor, ReactorContext } from '../../reactors/reactor.ts'

/** Organizations whose endpoints are kept; the least recently used goes first. */
const CACHED_ORGS = 10_000

export interface FanOutServices {
  readonly store: EventStore
  readonly sql: SqlClient
  readonly jobs: () => Jobs
  /** Resolves when the outbound read model has reached `position`. */
  readonly readModelAt: (position: LogPosition) => Promise<void>
}

export class OutboundFanOut implements Reactor {
  readonly name = 'webhook_fan_out'
  readonly actor = 'webhooks'
  readonly eventTypes: readonly string[]
  readonly #services: FanOutServices
  readonly #cache = new Map<string, readonly Subscription[]>()

  /** `types`: every registered event type; those that may be subscribed, and the endpoint events, are read. */
  constructor (services: FanOutServices, types: readonly string[]) {
    this.#services = services
    this.eventTypes = [...types.filter(subscribable), ...ENDPOINT_EVENT_TYPES]
  }

  async handle (batch: readonly RecordedEvent[], context: ReactorContext): Promise<void> {
    for (const event of batch) {
      const orgId = event.metadata.orgId
      if (ENDPOINT_EVENT_TYPES.includes(event.type)) {
        if (orgId === undefined) this.#cache.clear()
        else this.#cache.delete(orgId)
        continue
      }
      if (orgId === undefined || !subscribable(event.type)) continue
      const matching = (await this.#subscriptions(orgId, event.position))
        .filter((s) => comparePositions(s.createdAt, event.position) < 0 && matchesAny(s.eventTypes, event.type))
      await Promise.all(matching.map((subscription) => this.#fanOut(event, orgId, subscription, context)))
      // On PGlite every query resolves without I/O: a batch of hundreds would hold the event loop (deliveries time out) without this.
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  async #subscriptions (orgId: string, position: LogPosition): Promise<readonly Subscription[]> {
    const cached = this.#cache.get(orgId)
    if (cached !== undefined) {
      this.#cache.delete(orgId)
      this.#cache.set(orgId, cached)
      return cached
    }
    await this.#services.readModelAt(position)
    const found = await subscriptionsOf(this.#services.sql, orgId)
    if (this.#cache.size >= CACHED_ORGS) this.#cache.delete(this.#cache.keys().next().value!)
    this.#cache.set(orgId, found)
    return found
  }

  async #fanOut (event: RecordedEvent, orgId: string, subscription: Subscription, context: ReactorContext): Promise<void> {
    const { endpointId, held } = subscription
    const messageId = messageIdOf(endpointId, event.id)
    const command = { ...context.outcome(event, `message/${endpointId}`), orgId }
    const created = {
      type: 'webhook.message.created',
      data: { messageId, endpointId, orgId, eventType: event.type, sourceEventId: event.id, payload: payloadOf(event) }
    }
    const events = held ? [created, { type: 'webhook.message.held', data: { reason: 'endpoint_disabled' } }] : [created]
    try {
      await this.#services.store.append(messageStreamId(messageId),
        events.map((e, index) => ({ ...e, id: metadataFor(command, index).eventId, metadata: metadataFor(command, index) })),
        { expectedVersion: 'no_stream' })
    } catch (error) {
      // Written by an earlier delivery of this batch: its job was scheduled then, or is scheduled below (same id).
      if (!(error instanceof WrongExpectedVersion)) throw error
    }
    if (held) return
    await this.#services.jobs().schedule('webhook.deliver', { messageId }, {
      jobId: deliveryJobId(messageId), metadata: { ...context.outcome(event, `deliver/${endpointId}`), orgId }
    })
  }
}

/** The first delivery job of a message: one per message, whoever schedules it. */
export function deliveryJobId (messageId: string): string {
  return uuidV5(`webhook.deliver/${messageId}`)
}
