/**
 * Processing a stored message: the `webhook.process` job's work, and what a
 * replay runs again. It reads the message from its stream, decides what it
 * means, applies that, and records the outcome (`webhook.processed`) in the
 * message's stream. Every write derives its command id from the message
 * (and, where it can be decided again later, from what it read), so running
 * it twice, as a retried job or a replay, writes nothing new unless the
 * decision differs.
 *
 * Stripe (stripe.ts says what each event means): the organization is the
 * one linked to the event's customer (`org.organization.billing_linked`, via
 * the read model); an event is applied to its object only if it is newer
 * than every one applied to it (`whobj-stripe-<objectId>`, appended with the
 * expected version); a subscription's then sets the plan of the newest event
 * applied, recorded by the system with the Stripe message as its cause.
 * Two messages about one subscription processed at once on two nodes: each
 * sets the plan of the newest applied when it looks, and looks again if the
 * object moved meanwhile, so the last plan written is the newest event's.
 *
 * A Standard Webhooks source's message is applied as it is: the stored event
 * is the product, queryable and replayable.
 */
import { z } from 'zod'
import { aggregate, foldRecorded } from '../../../domain/decider.ts'
import { systemCommand, uuidV5, type CommandMetadata } from '../../../domain/envelope.ts'
import type { Plan } from '../../../domain/identity/events.ts'
import { WebhookMessageNotFound, WebhookOlderThanApplied } from '../../../domain/webhooks/inbound-errors.ts'
import type {
  InboundSourceKind, ObjectAppliedData, ProcessedData, ProcessedOutcome, ReceivedData
} from '../../../domain/webhooks/inbound-events.ts'
import { messageDecider, objectDecider, objectStreamId, type ObjectState } from '../../../domain/webhooks/inbound-message.ts'
import type { RecordedEvent } from '../../../eventstore/types.ts'
import { orgOfCustomer } from '../../../projections/webhooks/inbound-queries.ts'
import { execute } from '../../commands.ts'
import { changeOrganization, organizationState, type IdentityServices } from '../../identity/commands.ts'
import type { JobHandler } from '../../jobs/handlers.ts'
import type { InboundMetrics } from './metrics.ts'
import { PROCESS_JOB_TYPE } from './receive.ts'
import { stripeMeaning, type StripeMeaning, type StripePrices } from './stripe.ts'

export interface ProcessServices {
  readonly identity: IdentityServices
  readonly prices: StripePrices
  readonly metrics: InboundMetrics
  /** Resolves once the inbound read model has applied every event committed so far (a customer linked an instant ago). */
  waitForReadModel(): Promise<void>
  readonly now: () => Date
}

/** What processing made of a message, or (dry) would make. */
export interface Processing {
  readonly streamId: string
  readonly source: InboundSourceKind
  readonly sourceId: string
  readonly messageId: string
  readonly eventType: string | null
  readonly outcome: ProcessedOutcome
  readonly reason: string | null
  readonly orgId: string | null
  /** What it changed, or would change: its outcome, an object's newest event, an organization's plan. Empty: nothing. */
  readonly changes: string[]
}

interface Decision { outcome: ProcessedOutcome, reason?: string, orgId?: string, changes: string[] }

/** The system actor processing records its events as. */
const ACTOR = 'webhooks-in'
/** Looks at the object again at most this many times when other messages about it keep moving it meanwhile. */
const RECONCILE_ROUNDS = 5

/**
 * What a dry run would have written so far: the objects' states and the organizations' plans, so the messages after
 * are judged as they would be after a real run (an older event after a newer one is skipped in a dry run too).
 */
export interface DryRun {
  readonly objects: Map<string, ObjectState>
  readonly plans: Map<string, Plan>
}

export const dryRun = (): DryRun => ({ objects: new Map(), plans: new Map() })

interface Context {
  readonly services: ProcessServices
  readonly streamId: string
  readonly cause: RecordedEvent
  readonly received: ReceivedData
  /** Set for a dry run: nothing is written, what would be is kept here. */
  readonly dry: DryRun | undefined
}

function command (context: Context, key: string, orgId: string | undefined): CommandMetadata {
  return {
    ...systemCommand(ACTOR, context.services.now()),
    commandId: uuidV5(`webhook-in/${context.streamId}/${key}`),
    causationId: context.cause.id,
    ...(orgId === undefined ? {} : { orgId })
  }
}

/** A Standard Webhooks message is applied as it is, in its source's organization. */
const standardDecision = (orgId: string | undefined): Decision =>
  ({ outcome: 'applied', ...(orgId === undefined ? {} : { orgId }), changes: [] })

const skipped = (reason: string, orgId?: string): Decision =>
  ({ outcome: 'skipped', reason, ...(orgId === undefined ? {} : { orgId }), changes: [] })

/** Processes the message; with `dry`, writes nothing and answers what it would do (see DryRun). */
export async function processMessage (services: ProcessServices, streamId: string, dry?: DryRun): Promise<Processing> {
  const events = await services.identity.store.readStream(streamId)
  const state = foldRecorded(messageDecider, events)
  if (state.status === 'none') throw new WebhookMessageNotFound(undefined, { streamId })
  const { received } = state
  const context: Context = { services, streamId, cause: events[0]!, received, dry }
  const decision = received.source === 'stripe'
    ? await decideStripe(context)
    : standardDecision(context.cause.metadata.orgId)
  const data: ProcessedData = {
    outcome: decision.outcome, ...(decision.reason === undefined ? {} : { reason: decision.reason }),
    ...(decision.orgId === undefined ? {} : { orgId: decision.orgId })
  }
  const outcome = { type: 'RecordOutcome' as const, data }
  const recorded = messageDecider.decide(outcome, state, { now: services.now(), actor: { type: 'system', id: ACTOR } })
  const changes = [...decision.changes]
  if (recorded.length > 0) {
    changes.unshift(`outcome ${state.outcome === null ? 'pending' : describeOutcome(state.outcome)} -> ${describeOutcome(data)}`)
    // Keyed on what it read: the same decision on the same stream is one command, a different one later is another.
    const key = `outcome/${events.length}/${decision.outcome}/${decision.reason ?? ''}`
    if (dry === undefined) await execute(services.identity, messageDecider, streamId, outcome, command(context, key, decision.orgId))
  }
  return {
    streamId, source: received.source, sourceId: received.sourceId, messageId: received.messageId, eventType: received.eventType,
    outcome: decision.outcome, reason: decision.reason ?? null, orgId: decision.orgId ?? null, changes
  }
}

const describeOutcome = (data: ProcessedData): string => (data.reason === undefined ? data.outcome : `${data.outcome} (${data.reason})`)

/** The organization linked to the customer; the read model is waited for once before a customer counts as unknown. */
async function customerOrg (services: ProcessServices, customerId: string | undefined): Promise<string | undefined> {
  if (customerId === undefined) return undefined
  const known = await orgOfCustomer(services.identity.sql, customerId)
  if (known !== undefined) return known
  await services.waitForReadModel()
  return orgOfCustomer(services.identity.sql, customerId)
}

async function decideStripe (context: Context): Promise<Decision> {
  const { received, services } = context
  const meaning = stripeMeaning(received.eventType, received.body, services.prices)
  if (meaning.kind === 'unhandled') return skipped('unhandled_type')
  const orgId = await customerOrg(services, meaning.customerId)
  if (orgId === undefined) return skipped('unknown_customer')
  if (meaning.kind === 'subscription' && meaning.plan === undefined) return skipped('unknown_price', orgId)
  const applied = appliedData(context, meaning, orgId)
  let changes: string[]
  try {
    changes = await claim(context, applied)
  } catch (error) {
    if (error instanceof WebhookOlderThanApplied) return skipped('older_than_applied', orgId)
    throw error
  }
  if (meaning.kind === 'subscription') changes.push(...await reconcilePlan(context, applied))
  return { outcome: 'applied', orgId, changes }
}

function appliedData (context: Context, meaning: Exclude<StripeMeaning, { kind: 'unhandled' }>, orgId: string): ObjectAppliedData {
  const base = {
    objectId: meaning.objectId, objectType: meaning.kind, eventId: context.received.messageId, eventType: context.received.eventType!,
    created: meaning.created, orgId, messageStreamId: context.streamId
  }
  return meaning.kind === 'subscription' ? { ...base, plan: meaning.plan! } : { ...base, invoice: meaning.invoice }
}

/** Applies the event to its object, unless one at least as new is applied (then WebhookOlderThanApplied); answers what changed. */
async function claim (context: Context, applied: ObjectAppliedData): Promise<string[]> {
  const stream = objectStreamId(applied.objectId)
  const change = [`${applied.objectType} ${applied.objectId}: ${applied.eventType} of ${applied.created} applied`]
  const objectCommand = { type: 'ApplyObjectEvent' as const, data: applied }
  const { dry, services } = context
  const state = dry?.objects.get(stream) ?? await aggregate(services.identity.store, objectDecider, stream)
  // Decided here first: an event applied already (a retried job, a replay) writes nothing and changes nothing.
  const events = objectDecider.decide(objectCommand, state, { now: services.now(), actor: { type: 'system', id: ACTOR } })
  if (events.length === 0) return []
  if (dry !== undefined) dry.objects.set(stream, objectDecider.evolve(state, events[0]!))
  // Decided again under the stream's expected version: another node may have applied a newer event meanwhile.
  else await execute(services.identity, objectDecider, stream, objectCommand, command(context, 'object', applied.orgId))
  return change
}

/**
 * Sets the organization's plan to the newest applied event's. Keyed on the object's version read, so each look is its
 * own command; looked at again when the object moved meanwhile (another message applied a newer event).
 */
async function reconcilePlan (context: Context, applied: ObjectAppliedData): Promise<string[]> {
  const { identity } = context.services
  const stream = objectStreamId(applied.objectId)
  for (let round = 0; round < RECONCILE_ROUNDS; round++) {
    const events = await identity.store.readStream(stream)
    const latest = (context.dry?.objects.get(stream) ?? foldRecorded(objectDecider, events)).latest
    if (latest?.plan === undefined) return []
    const org = await organizationState(identity, latest.orgId)
    if (org.status !== 'active') return []
    const before = context.dry?.plans.get(latest.orgId) ?? org.plan
    const changes = before === latest.plan ? [] : [planChange(latest.orgId, before, latest.plan)]
    if (context.dry !== undefined) {
      context.dry.plans.set(latest.orgId, latest.plan)
      return changes
    }
    await changeOrganization(identity, command(context, `plan/${events.length}`, latest.orgId), latest.orgId,
      { type: 'ChangePlan', data: { plan: latest.plan } })
    if (await identity.store.streamVersion(stream) === BigInt(events.length)) return changes
  }
  return []
}

const planChange = (orgId: string, from: Plan, to: Plan): string => `organization ${orgId}: plan ${from} -> ${to}`

export const ProcessPayload = z.object({ streamId: z.string().regex(/^whin-[A-Za-z0-9._~:@+-]{1,200}$/) }).strict()

const sourceOfStream = (streamId: string): InboundSourceKind => (streamId.startsWith('whin-stripe-') ? 'stripe' : 'standard')

/** `webhook.process`: one message's processing; its result is the outcome, for `ledgerline jobs show`. */
export function processJobHandler (services: ProcessServices): JobHandler<z.infer<typeof ProcessPayload>> {
  return {
    type: PROCESS_JOB_TYPE,
    payload: ProcessPayload,
    timeoutSeconds: 60,
    maxAttempts: 10,
    async handle ({ streamId }) {
      try {
        const result = await processMessage(services, streamId)
        services.metrics.processed(result.source, result.outcome)
        return { outcome: result.outcome, reason: result.reason, orgId: result.orgId, changes: result.changes }
      } catch (error) {
        services.metrics.processed(sourceOfStream(streamId), 'failed')
        throw error
      }
    }
  }
}
