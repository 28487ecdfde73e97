/**
 * Outbound webhooks over HTTP: an organization's endpoints (where its
 * events go, and which), their health and delivery attempts, rotation of
 * their secret, recovery by hand and resending one message. Reading takes
 * `webhook:read`, every change `webhook:manage` (blocked while
 * impersonating: it decides where the organization's events are sent).
 * Everything is in src/application/webhooks/outbound/; nothing here decides.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import {
  createEndpoint, deleteEndpoint, listAttempts, listEndpoints, recoverEndpoint, resendMessage, rotateSecret, showEndpoint, updateEndpoint
} from '../../application/webhooks/outbound/endpoints.ts'
import { EventTypeFilter } from '../../domain/webhooks/endpoint-events.ts'
import { MAX_URL_LENGTH } from '../../domain/webhooks/outbound-filters.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata } from '../plugins/auth.ts'
import { cursorParam, pageLimit, pgTimestamp } from '../query.ts'
import { BEARER, Id, Position, Written, problems } from '../schemas.ts'

const READ = 'webhook:read'
const MANAGE = 'webhook:manage'

const OrgParams = z.object({ orgId: Id })
const EndpointParams = z.object({ orgId: Id, endpointId: Id })
const MessageParams = z.object({ orgId: Id, messageId: z.string().regex(/^msg_[A-Za-z0-9]{1,60}$/, 'a message id (msg_…)') })
const Url = z.string().min(1).max(MAX_URL_LENGTH).describe('http(s); https unless private targets are allowed; no credentials')
const Description = z.string().max(500)
const Filters = z.array(EventTypeFilter).min(1).max(50)
  .describe('exact event types, prefixes such as rbac.* or ai.*, or *; see GET …/webhooks/event-types')

const EndpointView = z.object({
  endpointId: Id, orgId: Id, url: z.string(), description: z.string(), eventTypes: z.array(z.string()),
  state: z.enum(['active', 'disabled']), disabledReason: z.enum(['manual', 'failing', 'gone']).nullable(),
  disabledAt: z.string().nullable(), failingSince: z.string().nullable(), lastSuccessAt: z.string().nullable(),
  lastAttemptAt: z.string().nullable(),
  secrets: z.array(z.object({ fingerprint: z.string(), expiresAt: z.string().nullable() })).describe('fingerprints only'),
  createdAt: z.string(), updatedAt: z.string()
})
const Created = z.object({
  endpointId: Id, url: z.string(), description: z.string(), eventTypes: z.array(z.string()), enabled: z.boolean(),
  secret: z.string().describe('the whsec_ signing secret, shown this once'), secretFingerprint: z.string(), position: Position
})
const AttemptView = z.object({
  messageId: z.string(), eventType: z.string(), attempt: z.number().int(), outcome: z.string(),
  messageStatus: z.enum(['pending', 'held', 'delivered', 'gone', 'exhausted'])
    .describe('the message now; exhausted: every scheduled attempt failed (a resend or a recovery sends it again)'),
  status: z.number().int().nullable(),
  latencyMs: z.number().int(), excerpt: z.string().describe('the first 1 KiB of the answer'), errorCode: z.string().nullable(),
  at: z.string()
})
const Scheduled = z.object({ jobId: z.string(), position: Position.optional(), messageId: z.string().optional() })

export async function webhookOutRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()
  const deps = runtime.webhooks.endpoints

  api.get('/v1/orgs/:orgId/webhooks/event-types', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': READ, params: OrgParams,
      summary: 'The event types an endpoint may subscribe to (role changes, impersonations, tool calls, audit actions)',
      response: { 200: z.object({ items: z.array(z.string()) }), ...problems }
    }
  }, async () => ({ items: [...deps.subscribableTypes] }))

  api.post('/v1/orgs/:orgId/webhooks/endpoints', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': MANAGE, params: OrgParams,
      summary: 'Subscribes an endpoint to the organization\'s events; 201 with its signing secret, shown once',
      body: z.object({ url: Url, description: Description.optional(), eventTypes: Filters, enabled: z.boolean().optional() }).strict(),
      response: { 201: Created, ...problems }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    return reply.code(201).send(await createEndpoint(deps, orgId, request.body, commandMetadata(request, orgId)))
  })

  api.get('/v1/orgs/:orgId/webhooks/endpoints', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': READ, params: OrgParams,
      summary: 'The organization\'s endpoints, newest first, a page at a time',
      querystring: z.object({ limit: pageLimit(200, 50), cursor: cursorParam.optional() }).strict(),
      response: { 200: z.object({ items: z.array(EndpointView), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => listEndpoints(runtime.sql, request.params.orgId, request.query))

  api.get('/v1/orgs/:orgId/webhooks/endpoints/:endpointId', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': READ, params: EndpointParams,
      summary: 'One endpoint and its health: state, failing since, last success, why it is disabled; secret fingerprints only',
      response: { 200: EndpointView, ...problems }
    }
  }, async (request) => showEndpoint(runtime.sql, request.params.orgId, request.params.endpointId))

  api.patch('/v1/orgs/:orgId/webhooks/endpoints/:endpointId', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': MANAGE, params: EndpointParams,
      summary: 'Changes an endpoint\'s URL, description or filters, or turns it off and on (enabled)',
      body: z.object({
        url: Url.optional(), description: Description.optional(), eventTypes: Filters.optional(), enabled: z.boolean().optional()
      }).strict(),
      response: { 200: Written, ...problems }
    }
  }, async (request) => {
    const { orgId, endpointId } = request.params
    return updateEndpoint(deps, orgId, endpointId, request.body, commandMetadata(request, orgId))
  })

  api.post('/v1/orgs/:orgId/webhooks/endpoints/:endpointId/secret/rotate', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': MANAGE, params: EndpointParams,
      summary: 'A new signing secret, shown once; the previous one signs too (a second signature) for 24 hours',
      response: { 200: z.object({ secret: z.string(), secretFingerprint: z.string(), previousExpiresAt: z.string(), position: Position }),
        ...problems }
    }
  }, async (request) => {
    const { orgId, endpointId } = request.params
    return rotateSecret(deps, orgId, endpointId, commandMetadata(request, orgId))
  })

  api.post('/v1/orgs/:orgId/webhooks/endpoints/:endpointId/recover', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': MANAGE, params: EndpointParams,
      summary: 'Enables the endpoint (a gone one too) and sends again, in order, every message not delivered since `since`',
      body: z.object({ since: pgTimestamp.describe('an ISO time: messages created since then') }).strict(),
      response: { 202: Scheduled, ...problems }
    }
  }, async (request, reply) => {
    const { orgId, endpointId } = request.params
    const since = new Date(request.body.since)
    return reply.code(202).send(await recoverEndpoint(deps, orgId, endpointId, since, commandMetadata(request, orgId)))
  })

  api.get('/v1/orgs/:orgId/webhooks/endpoints/:endpointId/attempts', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': READ, params: EndpointParams,
      summary: 'The endpoint\'s delivery attempts, newest first: status, latency, the answer\'s first 1 KiB, error code',
      querystring: z.object({ limit: pageLimit(200, 50), cursor: cursorParam.optional() }).strict(),
      response: { 200: z.object({ items: z.array(AttemptView), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => listAttempts(runtime.sql, request.params.orgId, request.params.endpointId, request.query))

  api.post('/v1/orgs/:orgId/webhooks/messages/:messageId/resend', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': MANAGE, params: MessageParams,
      summary: 'Sends one message again, delivered or not, with the same webhook-id', response: { 202: Scheduled, ...problems }
    }
  }, async (request, reply) => {
    const { orgId, messageId } = request.params
    return reply.code(202).send(await resendMessage(deps, orgId, messageId, commandMetadata(request, orgId)))
  })

  api.delete('/v1/orgs/:orgId/webhooks/endpoints/:endpointId', {
    schema: {
      tags: ['webhooks'], security: BEARER, 'x-permission': MANAGE, params: EndpointParams,
      summary: 'Deletes an endpoint and its secrets; its pending messages are not sent', response: { 200: Written, ...problems }
    }
  }, async (request) => {
    const { orgId, endpointId } = request.params
    return deleteEndpoint(deps, orgId, endpointId, commandMetadata(request, orgId))
  })
}
