/**
 * The outbound endpoints' use cases, for HTTP and the CLI alike: create
 * (the secret answered once), change, delete, rotate the secret (the old one
 * signs too for 24 h), recover by hand, resend a message, and the reads.
 * Another organization's endpoint or message is not found, never forbidden.
 */
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { aggregate } from '../../../domain/decider.ts'
import { cursorCodec } from '../../../domain/cursor.ts'
import type { CommandMetadata } from '../../../domain/envelope.ts'
import { endpointDecider, endpointStreamId, type EndpointCommand, type EndpointState } from '../../../domain/webhooks/endpoint.ts'
import { EndpointNotFound, MessageNotFound } from '../../../domain/webhooks/endpoint-errors.ts'
import { checkEndpointUrl, checkFilters } from '../../../domain/webhooks/outbound-filters.ts'
import { messageDecider, messageStreamId } from '../../../domain/webhooks/outbound-message.ts'
import { Id, pgTimestamp } from '../../../domain/values.ts'
import { MessageId } from '../../../domain/webhooks/outbound-events.ts'
import {
  attemptsPage, endpointsPage, endpointView, type AttemptView, type EndpointView
} from '../../../projections/webhooks/outbound-queries.ts'
import type { SqlClient } from '../../../sql/client.ts'
import { execute, written, type CommandServices, type Written } from '../../commands.ts'
import type { Jobs } from '../../jobs/jobs.ts'
import type { WebhookSecretStore } from '../secrets.ts'

/** How long a rotated-out secret still signs. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000

export const endpointCursor = cursorCodec('webhook-endpoints.1', z.object({ createdAt: pgTimestamp, endpointId: Id }).strict())
export const attemptCursor = cursorCodec('webhook-attempts.1',
  z.object({ at: pgTimestamp, messageId: MessageId, attempt: z.number().int().min(1).max(100_000) }).strict())

export interface EndpointServices {
  readonly services: CommandServices
  readonly sql: SqlClient
  readonly secrets: WebhookSecretStore
  readonly jobs: () => Jobs
  /** Plain http allowed (with private targets, for tests and local work). */
  readonly allowPlainHttp: boolean
  /** The event types an endpoint may subscribe to. */
  readonly subscribableTypes: readonly string[]
}

export interface EndpointInput {
  readonly url: string
  readonly description?: string | undefined
  readonly eventTypes: readonly string[]
  readonly enabled?: boolean | undefined
}

export interface CreatedEndpoint extends Written {
  readonly endpointId: string
  readonly url: string
  readonly description: string
  readonly eventTypes: string[]
  readonly enabled: boolean
  /** Shown once: only its fingerprint is kept anywhere a person can read. */
  readonly secret: string
  readonly secretFingerprint: string
}

function checked (deps: EndpointServices, input: Partial<EndpointInput>): { url?: string, eventTypes?: string[] } {
  const url = input.url === undefined ? undefined : checkEndpointUrl(input.url, { allowPlainHttp: deps.allowPlainHttp })
  if (input.eventTypes !== undefined) checkFilters(input.eventTypes, deps.subscribableTypes)
  const eventTypes = input.eventTypes === undefined ? undefined : [...new Set(input.eventTypes)]
  return { ...(url === undefined ? {} : { url }), ...(eventTypes === undefined ? {} : { eventTypes }) }
}

export async function createEndpoint (
  deps: EndpointServices, orgId: string, input: EndpointInput, metadata: CommandMetadata
): Promise<CreatedEndpoint> {
  const { url, eventTypes } = checked(deps, input) as { url: string, eventTypes: string[] }
  const endpointId = `ep_${randomUUID().replaceAll('-', '')}`
  const stored = await deps.secrets.create(endpointId, { now: metadata.now })
  const endpoint = {
    endpointId, orgId, url, description: input.description ?? '', eventTypes, enabled: input.enabled ?? true,
    secretFingerprint: stored.fingerprint
  }
  try {
    const result = await execute(deps.services, endpointDecider, endpointStreamId(endpointId), { type: 'CreateEndpoint', data: endpoint },
      { ...metadata, orgId })
    return { ...endpoint, secret: stored.secret, ...written(result.position) }
  } catch (error) {
    await deps.secrets.removeAll(endpointId)
    throw error
  }
}

/** The endpoint's state, when it is the organization's and not deleted. */
type Live = Extract<EndpointState, { status: 'active' | 'disabled' }>

/** Decides `command` on the endpoint, recorded in the organization. */
async function onEndpoint (
  deps: EndpointServices, orgId: string, endpointId: string, command: EndpointCommand, metadata: CommandMetadata
): Promise<Written> {
  const result = await execute(deps.services, endpointDecider, endpointStreamId(endpointId), command, { ...metadata, orgId })
  return written(result.position)
}

async function owned (deps: EndpointServices, orgId: string, endpointId: string): Promise<Live> {
  const state = await aggregate(deps.services.store, endpointDecider, endpointStreamId(endpointId))
  if ((state.status !== 'active' && state.status !== 'disabled') || state.endpoint.orgId !== orgId) throw new EndpointNotFound()
  return state
}

export async function updateEndpoint (
  deps: EndpointServices, orgId: string, endpointId: string, input: Partial<EndpointInput>, metadata: CommandMetadata
): Promise<Written> {
  const before = await owned(deps, orgId, endpointId)
  const { url, eventTypes } = checked(deps, input)
  const data = {
    ...(url === undefined ? {} : { url }), ...(eventTypes === undefined ? {} : { eventTypes }),
    ...(input.description === undefined ? {} : { description: input.description }),
    ...(input.enabled === undefined ? {} : { enabled: input.enabled })
  }
  const done = await onEndpoint(deps, orgId, endpointId, { type: 'UpdateEndpoint', data }, metadata)
  // Turned on again by hand: what was held while it was off goes out, in order (a recovery without `since`).
  if (input.enabled === true && before.status === 'disabled') {
    await deps.jobs().schedule('webhook.backlog', { endpointId }, {
      key: endpointId, keyMode: 'replace', metadata: { ...metadata, orgId, commandId: randomUUID() }
    })
  }
  return done
}

export async function deleteEndpoint (
  deps: EndpointServices, orgId: string, endpointId: string, metadata: CommandMetadata
): Promise<Written> {
  await owned(deps, orgId, endpointId)
  const done = await onEndpoint(deps, orgId, endpointId, { type: 'DeleteEndpoint', data: {} }, metadata)
  await deps.secrets.removeAll(endpointId)
  return done
}

/** A new secret, answered once; the ones active before sign too for 24 hours. */
export async function rotateSecret (
  deps: EndpointServices, orgId: string, endpointId: string, metadata: CommandMetadata
): Promise<Written & { secret: string, secretFingerprint: string, previousExpiresAt: string }> {
  const { endpoint } = await owned(deps, orgId, endpointId)
  const now = metadata.now
  const previous = await deps.secrets.active(endpointId, now)
  const stored = await deps.secrets.create(endpointId, { now })
  const until = new Date(now.getTime() + ROTATION_OVERLAP_MS)
  // An older secret still in its own overlap keeps its earlier end.
  for (const old of previous) {
    if (old.expiresAt === null || old.expiresAt > until) await deps.secrets.expire(endpointId, old.secretId, until)
  }
  const previousExpiresAt = until.toISOString()
  const done = await onEndpoint(deps, orgId, endpointId, {
    type: 'RotateSecret',
    data: { secretFingerprint: stored.fingerprint, previousFingerprint: endpoint.secretFingerprint, previousExpiresAt }
  }, metadata)
  return { secret: stored.secret, secretFingerprint: stored.fingerprint, previousExpiresAt, ...done }
}

/** Enables the endpoint (a `gone` one too: a person said so) and sends, in order, what was not delivered since `since`. */
export async function recoverEndpoint (
  deps: EndpointServices, orgId: string, endpointId: string, since: Date, metadata: CommandMetadata
): Promise<Written & { jobId: string }> {
  await owned(deps, orgId, endpointId)
  const done = await onEndpoint(deps, orgId, endpointId, { type: 'EnableEndpoint', data: { by: 'recover' } }, metadata)
  const job = await deps.jobs().schedule('webhook.backlog', { endpointId, since: since.toISOString() }, {
    key: endpointId, keyMode: 'replace', metadata: { ...metadata, orgId, commandId: randomUUID() }
  })
  return { jobId: job.jobId, ...done }
}

/** Sends the message again, delivered or not, as a new job (same `webhook-id`: the receiver may dedupe). */
export async function resendMessage (
  deps: EndpointServices, orgId: string, messageId: string, metadata: CommandMetadata
): Promise<{ jobId: string, messageId: string }> {
  const state = await aggregate(deps.services.store, messageDecider, messageStreamId(messageId))
  if (state.status === 'none' || state.message.orgId !== orgId) throw new MessageNotFound()
  await owned(deps, orgId, state.message.endpointId).catch(() => { throw new MessageNotFound('the message\'s endpoint was deleted') })
  const job = await deps.jobs().schedule('webhook.deliver', { messageId, resend: true }, {
    metadata: { ...metadata, orgId, commandId: randomUUID() }
  })
  return { jobId: job.jobId, messageId }
}

export async function listEndpoints (
  sql: SqlClient, orgId: string, request: { limit: number, cursor?: string | undefined }, now = new Date()
): Promise<{ items: EndpointView[], nextCursor: string | null }> {
  const after = request.cursor === undefined ? undefined : endpointCursor.decode(request.cursor)
  const found = await endpointsPage(sql, orgId, { limit: request.limit + 1, now, ...(after === undefined ? {} : { after }) })
  const items = found.slice(0, request.limit)
  const last = found.length > request.limit ? items.at(-1) : undefined
  const nextCursor = last === undefined ? null : endpointCursor.encode({ createdAt: last.createdAt, endpointId: last.endpointId })
  return { items, nextCursor }
}

export async function showEndpoint (sql: SqlClient, orgId: string, endpointId: string, now = new Date()): Promise<EndpointView> {
  const view = await endpointView(sql, orgId, endpointId, now)
  if (view === undefined) throw new EndpointNotFound()
  return view
}

export async function listAttempts (
  sql: SqlClient, orgId: string, endpointId: string, request: { limit: number, cursor?: string | undefined }
): Promise<{ items: AttemptView[], nextCursor: string | null }> {
  await showEndpoint(sql, orgId, endpointId)
  const after = request.cursor === undefined ? undefined : attemptCursor.decode(request.cursor)
  const found = await attemptsPage(sql, endpointId, { limit: request.limit + 1, ...(after === undefined ? {} : { after }) })
  const page = found.slice(0, request.limit)
  const last = found.length > request.limit ? page.at(-1) : undefined
  const nextCursor = last === undefined ? null : attemptCursor.encode({ at: last.at, messageId: last.messageId, attempt: last.attempt })
  return { items: page, nextCursor }
}
