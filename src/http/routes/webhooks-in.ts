/**
 * Inbound webhooks over HTTP.
 *
 * Receiving (no bearer token: the signature is the credential):
 * `POST /v1/webhooks/stripe` and `POST /v1/webhooks/in/:sourceId`. They live
 * in a scope of their own whose body parser keeps the raw bytes, whatever
 * the content type, since a signature is over the bytes as sent, and caps
 * them at 1 MiB. A refusal (bad signature, stale timestamp, malformed
 * headers, too large, unknown source, rate limited, not configured) writes
 * nothing and is counted in `ledgerline_webhooks_received_total`; an
 * accepted message is answered 200 once it is stored, a duplicate 200
 * `{duplicate: true}` (src/application/webhooks/inbound/).
 *
 * Managing an organization's Standard Webhooks sources (`webhook:manage`,
 * blocked while impersonating like every sensitive change) and reading them
 * and their messages (`webhook:read`): `/v1/orgs/:orgId/webhooks/sources…`.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { inboundMetrics } from '../../application/webhooks/inbound/metrics.ts'
import { TokenBuckets } from '../../application/webhooks/inbound/rate-limit.ts'
import { receiveMessage, type Receipt, type ReceiveServices } from '../../application/webhooks/inbound/receive.ts'
import { listMessages, listSources, showSource } from '../../application/webhooks/inbound/reads.ts'
import {
  createSource, disableSource, enabledSource, rotateSourceSecret, type SourceServices
} from '../../application/webhooks/inbound/sources.ts'
import { verifyStandard, verifyStripe, type VerifiedMessage } from '../../application/webhooks/inbound/verify.ts'
import { webhookSecretStoreOf } from '../../application/webhooks/secrets.ts'
import { InvalidEventData, LedgerlineError } from '../../domain/errors.ts'
import {
  WebhookInvalidBody, WebhookRateLimited, WebhookSourceNotConfigured, WebhookTooLarge, WebhookUnknownSource
} from '../../domain/webhooks/inbound-errors.ts'
import { SourceId, type InboundSourceKind } from '../../domain/webhooks/inbound-events.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata } from '../plugins/auth.ts'
import { cursorParam, pageLimit } from '../query.ts'
import { BEARER, Id, Position, problems } from '../schemas.ts'

/** The largest message taken: 1 MiB, Standard Webhooks' and Stripe's own ceiling for a payload. */
export const MAX_MESSAGE_BYTES = 1024 * 1024

const RECEIPT = z.object({
  received: z.literal(true),
  duplicate: z.boolean().describe('true when this message was stored before: nothing was written now'),
  messageId: z.string(),
  position: Position.describe('where the message landed in the log; null for a duplicate')
})

/** What each refusal is counted as. */
const OUTCOME_OF: Readonly<Record<string, Parameters<ReturnType<typeof inboundMetrics>['received']>[1]>> = {
  'webhook.invalid_signature': 'invalid_signature',
  'webhook.stale_timestamp': 'stale_timestamp',
  'webhook.invalid_headers': 'invalid_headers',
  'webhook.invalid_body': 'invalid_body',
  'webhook.too_large': 'too_large',
  'webhook.rate_limited': 'rate_limited',
  'webhook.unknown_source': 'unknown_source',
  'webhook.source_not_configured': 'not_configured'
}

/** The store's refusals of what a sender signed (too large once stored with its envelope, text jsonb cannot hold) as ours. */
function asRefusal (error: unknown): unknown {
  if (error instanceof LedgerlineError && error.code === 'store.event_too_large') return new WebhookTooLarge()
  if (error instanceof InvalidEventData) return new WebhookInvalidBody()
  return error
}

const sourceOfUrl = (url: string): InboundSourceKind => (url.startsWith('/v1/webhooks/stripe') ? 'stripe' : 'standard')

/** The receiving routes: public, raw bodies, their own 413 (see the header). */
export async function inboundWebhookRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()
  const metrics = inboundMetrics(runtime.metrics.registry)
  const secrets = webhookSecretStoreOf(runtime.config, runtime.sql)
  const buckets = new TokenBuckets(runtime.config.webhooksIn.ratePerSecond)
  const services: ReceiveServices = { store: runtime.store, jobs: runtime.jobs, metrics, logger: runtime.logger }

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_MESSAGE_BYTES }, (_request, body, done) => { done(null, body) })
  app.setErrorHandler((error: FastifyError, request) => {
    if (error.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') throw error
    metrics.received(sourceOfUrl(request.url), 'too_large')
    // Handed to the application's error handler, which answers every problem alike.
    throw new WebhookTooLarge()
  })

  const facts = (request: FastifyRequest) => {
    const userAgent = request.headers['user-agent']
    const agent = typeof userAgent === 'string' ? { userAgent: userAgent.slice(0, 500) } : {}
    return { traceId: request.id, ip: request.clientIp, now: new Date(), ...agent }
  }

  /** Rate, verify, store; any refusal counted by its outcome, a rate refusal with Retry-After. */
  async function receive (
    source: InboundSourceKind, reply: FastifyReply, rateKey: string, work: () => Promise<Receipt & { message: VerifiedMessage }>
  ): Promise<z.infer<typeof RECEIPT>> {
    try {
      const rate = buckets.take(rateKey)
      if (!rate.allowed) {
        void reply.header('retry-after', String(rate.retryAfterSeconds))
        throw new WebhookRateLimited(undefined, { retryAfterSeconds: rate.retryAfterSeconds })
      }
      const { duplicate, position, message } = await work()
      return { received: true, duplicate, messageId: message.messageId, position }
    } catch (caught) {
      const error = asRefusal(caught)
      const outcome = error instanceof LedgerlineError ? OUTCOME_OF[error.code] : undefined
      if (outcome !== undefined) metrics.received(source, outcome)
      throw error
    }
  }

  api.post('/v1/webhooks/stripe', {
    schema: {
      tags: ['webhooks'], summary: 'Receives a Stripe event (verified with STRIPE_WEBHOOK_SECRET): 200 once stored',
      description: 'The raw body is verified with Stripe\'s SDK (Stripe-Signature, 300 s tolerance) against each configured secret. ' +
        'A duplicate answers 200 with duplicate: true and writes nothing. 503 webhook.source_not_configured without a secret.',
      response: { 200: RECEIPT, ...problems }
    }
  }, async (request, reply) => {
    const configured = runtime.config.webhooksIn.stripeSecrets
    if (configured.length === 0) {
      metrics.received('stripe', 'not_configured')
      throw new WebhookSourceNotConfigured()
    }
    return receive('stripe', reply, 'stripe', async () => {
      const message = verifyStripe(configured.map((secret) => secret.reveal()), rawBody(request), request.headers, new Date())
      return { ...await receiveMessage(services, { source: 'stripe', sourceId: 'stripe', message }, facts(request)), message }
    })
  })

  api.post('/v1/webhooks/in/:sourceId', {
    schema: {
      tags: ['webhooks'], summary: 'Receives a Standard Webhooks message for a source an organization registered: 200 once stored',
      description: 'webhook-id, webhook-timestamp and webhook-signature are verified with the standardwebhooks package against ' +
        'each active secret of the source (5 minutes tolerance). A duplicate webhook-id answers 200 with duplicate: true.',
      params: z.object({ sourceId: z.string().max(200) }),
      response: { 200: RECEIPT, ...problems }
    }
  }, async (request, reply) => {
    const { sourceId } = request.params
    if (!SourceId.safeParse(sourceId).success) {
      metrics.received('standard', 'unknown_source')
      throw new WebhookUnknownSource()
    }
    return receive('standard', reply, sourceId, async () => {
      const source = await enabledSource(runtime.identity, sourceId)
      const active = await secrets.active(sourceId, new Date())
      const message = verifyStandard(active.map((secret) => secret.secret), rawBody(request), request.headers, new Date())
      const received = { source: 'standard' as const, sourceId, orgId: source.orgId, message }
      return { ...await receiveMessage(services, received, facts(request)), message }
    })
  })
}

/** The body as sent: the raw parser's Buffer, or nothing. */
function rawBody (request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
}

const OrgParams = z.object({ orgId: Id })
const SourceParams = z.object({ orgId: Id, sourceId: SourceId })
const Page = { limit: pageLimit(200, 50), cursor: cursorParam.optional() }

const SecretInfo = z.object({
  secretId: z.string(), fingerprint: z.string().describe('sha256: and 16 hex digits of the secret\'s SHA-256'),
  createdAt: z.string(), expiresAt: z.string().nullable().describe('when it stops being accepted; null: until rotated')
})
const NewSecret = SecretInfo.extend({ secret: z.string().describe('whsec_…: shown this once, never again') })
const SourceView = z.object({
  sourceId: z.string(), orgId: z.string(), name: z.string(), description: z.string().nullable(), status: z.enum(['enabled', 'disabled']),
  createdAt: z.string(), rotatedAt: z.string().nullable(), disabledAt: z.string().nullable()
})
const MessageView = z.object({
  streamId: z.string(), messageId: z.string(), eventType: z.string().nullable(), receivedAt: z.string(),
  outcome: z.enum(['pending', 'applied', 'skipped']), reason: z.string().nullable(), processedAt: z.string().nullable()
})

const MANAGE = 'webhook:manage'
const READ = 'webhook:read'

/** The organization routes of sources (see the header). */
export async function webhookSourceRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()
  const services: SourceServices & { sql: Runtime['sql'] } = {
    ...runtime.identity, secrets: webhookSecretStoreOf(runtime.config, runtime.sql), now: () => new Date()
  }

  api.post('/v1/orgs/:orgId/webhooks/sources', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': MANAGE, params: OrgParams,
      summary: 'Registers a Standard Webhooks source: 201 with its whsec_ secret, shown this once',
      body: z.object({ name: z.string().trim().min(1).max(100), description: z.string().trim().max(500).optional() }).strict(),
      response: { 201: z.object({ sourceId: z.string(), url: z.string(), secret: NewSecret, position: Position }), ...problems }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    const created = await createSource(services, commandMetadata(request, orgId), orgId, request.body)
    return reply.code(201).send({ ...created, url: `/v1/webhooks/in/${created.sourceId}` })
  })

  api.get('/v1/orgs/:orgId/webhooks/sources', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': READ, params: OrgParams, querystring: z.object(Page).strict(),
      summary: 'The organization\'s sources, newest first, a page at a time',
      response: { 200: z.object({ items: z.array(SourceView), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => listSources(runtime.sql, request.params.orgId, pageOf(request.query)))

  api.get('/v1/orgs/:orgId/webhooks/sources/:sourceId', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': READ, params: SourceParams,
      summary: 'One source, with the fingerprints of the secrets it accepts (never the secrets)',
      response: { 200: SourceView.extend({ secrets: z.array(SecretInfo) }), ...problems }
    }
  }, async (request) => showSource(services, request.params.orgId, request.params.sourceId))

  api.post('/v1/orgs/:orgId/webhooks/sources/:sourceId/secrets', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': MANAGE, params: SourceParams,
      summary: 'Rotates the secret: 201 with a new one, shown once; the ones before it are accepted 24 hours more',
      response: { 201: z.object({ secret: NewSecret, previous: z.array(SecretInfo), position: Position }), ...problems }
    }
  }, async (request, reply) => {
    const { orgId, sourceId } = request.params
    return reply.code(201).send(await rotateSourceSecret(services, commandMetadata(request, orgId), orgId, sourceId))
  })

  api.delete('/v1/orgs/:orgId/webhooks/sources/:sourceId', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': MANAGE, params: SourceParams,
      summary: 'Disables the source for good: its secrets are removed, later messages are 404 webhook.unknown_source',
      response: { 200: z.object({ position: Position }), ...problems }
    }
  }, async (request) => {
    const { orgId, sourceId } = request.params
    return disableSource(services, commandMetadata(request, orgId), orgId, sourceId)
  })

  api.get('/v1/orgs/:orgId/webhooks/sources/:sourceId/messages', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': READ, params: SourceParams, querystring: z.object(Page).strict(),
      summary: 'Messages the source received, newest first, with their processing outcome (pending, applied or skipped and why)',
      response: { 200: z.object({ items: z.array(MessageView), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => listMessages(runtime.sql, request.params.orgId, request.params.sourceId, pageOf(request.query)))
}

const pageOf = (query: { limit: number, cursor?: string | undefined }): { limit: number, cursor?: string } =>
  ({ limit: query.limit, ...(query.cursor === undefined ? {} : { cursor: query.cursor }) })
