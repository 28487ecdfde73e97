/**
 * The HTTP composition: plugins (errors, trace, metrics, OpenAPI) and one
 * route plugin per capability. Public routes sit outside the authenticated
 * scope; inside it every request carries a principal, reads honour
 * X-Consistent-With and commands honour Idempotency-Key. Built from a
 * Runtime, so tests build it on PGlite or PostgreSQL exactly as the server does.
 */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'
import { derivedSecret } from '../application/audit/signing-key.ts'
import { assertMetricsProtected } from '../ops/lib/metrics-access.ts'
import type { Runtime } from '../runtime.ts'
import { authenticator, readClientIp } from './plugins/auth.ts'
import { authorization } from './plugins/authorization.ts'
import { consistency } from './plugins/consistency.ts'
import { denialsPlugin } from './plugins/denials.ts'
import { clientErrorHandler, errorsPlugin, frameworkErrors } from './plugins/errors.ts'
import { idempotency } from './plugins/idempotency.ts'
import { metricsPlugin } from './plugins/metrics.ts'
import { RequestLogController, requestLoggerFactory } from './plugins/request-log.ts'
import { authenticateIn, traceIdOf, tracePlugin } from './plugins/trace.ts'
import { aiBudgetRoutes } from './routes/ai-budget.ts'
import { aiRoutes } from './routes/ai.ts'
import { assistantRoutes } from './routes/assistant.ts'
import { authRoutes, publicAuthRoutes } from './routes/auth.ts'
import { dashboardSessionRoutes } from './routes/dashboard-session.ts'
import { DASHBOARD_PREFIX, dashboardStatic } from './plugins/static.ts'
import { authzRoutes } from './routes/authz.ts'
import { healthRoutes } from './routes/health.ts'
import { impersonationRoutes } from './routes/impersonation.ts'
import { invitationRoutes } from './routes/invitations.ts'
import { memberRoutes } from './routes/members.ts'
import { organizationRoutes } from './routes/organizations.ts'
import { accessRoutes, roleRoutes, roleTestRoutes } from './routes/roles.ts'
import { auditRetentionRoutes } from './routes/audit-retention.ts'
import { auditRoutes } from './routes/audit.ts'
import { auditDigestRoutes } from './routes/audit-digests.ts'
import { auditVerifyRoutes } from './routes/audit-verify.ts'
import { permissionRoutes } from './routes/permissions.ts'
import { sessionRoutes } from './routes/session.ts'
import { userAdminRoutes } from './routes/users.ts'
import { platformAuditRoutes } from './routes/platform-audit.ts'
import { adminAiBudgetRoutes } from './routes/admin-ai-budgets.ts'
import { adminJobRoutes } from './routes/admin-jobs.ts'
import { mcpPublicRoutes, mcpRoutes } from './routes/mcp.ts'
import { toolRoutes } from './routes/tools.ts'
import { webhookOutRoutes } from './routes/webhooks-out.ts'
import { inboundWebhookRoutes, webhookSourceRoutes } from './routes/webhooks-in.ts'
import { appendRouteHook } from './hooks.ts'
import { serializerCompiler } from './serializer.ts'
import { requestValidatorCompiler } from './validation.ts'

/** Request bodies above this are refused with 413. */
export const BODY_LIMIT = 1024 * 1024

/** Trust the nearest `hops` proxies in X-Forwarded-For. */
function hopsTrusted (hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops
}

/**
 * The server's timeouts (HTTP_*_TIMEOUT_MS): a client that trickles its
 * request, headers or body, is cut off with 408 (clientErrorHandler); an
 * idle connection is closed. Node checks the request and headers timeouts on
 * a timer, 30 s by default, which would stretch a 10 s headers timeout to
 * 40: it checks as often as the configured ones need, at most every second.
 */
export function serverTimeouts (timeouts: Runtime['config']['httpTimeouts']) {
  return {
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.connectionMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    http: {
      headersTimeout: timeouts.headersMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(timeouts.headersMs / 4)))
    }
  }
}

export async function buildApp (runtime: Runtime): Promise<FastifyInstance> {
  assertMetricsProtected(runtime.config)
  const app = Fastify({
    loggerInstance: runtime.logger as FastifyBaseLogger,
    genReqId: traceIdOf,
    // No request logging work at a level that is not enabled (src/http/plugins/request-log.ts).
    childLoggerFactory: requestLoggerFactory,
    logController: new RequestLogController({ requestIdLogLabel: 'traceId' }),
    requestIdHeader: false,
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ...serverTimeouts(runtime.config.httpTimeouts),
    trustProxy: typeof runtime.config.trustProxy === 'number' ? hopsTrusted(runtime.config.trustProxy) : runtime.config.trustProxy,
    routerOptions: { maxParamLength: 200 },
    frameworkErrors,
    clientErrorHandler
  })
  app.setValidatorCompiler(requestValidatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.decorateRequest('principal', null)
  app.decorateRequest('commandId', null)
  app.decorateRequest('consistentWith', undefined)
  app.decorateRequest('clientIp', '')
  // First of all hooks: every later use of the client's address reads this one.
  app.addHook('onRequest', readClientIp)
  await app.register(errorsPlugin)
  await app.register(tracePlugin)
  await app.register(metricsPlugin, { runtime })
  await app.register(denialsPlugin, { runtime })
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Ledgerline API',
        version: '0.1.0',
        description: 'Governance backend: identity, tenancy, roles, audit. Errors are RFC 9457 problem+json with a stable `code`.'
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'an API or session token: ll_<id>_<secret>' } }
      }
    },
    transform: jsonSchemaTransform,
    // Schemas registered with an id (the recursive Condition grammar) become components.
    transformObject: jsonSchemaTransformObject
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())

  await app.register(healthRoutes, { runtime })
  await app.register(publicAuthRoutes, { runtime })
  // The dashboard's cookie session (it reads the cookie itself) and its files (src/http/plugins/static.ts).
  await app.register(dashboardSessionRoutes, { runtime })
  await app.register(dashboardStatic, { prefix: DASHBOARD_PREFIX })
  // Authenticates itself when a bearer token is sent: a new user accepts without one.
  await app.register(invitationRoutes, { runtime })
  await app.register(mcpPublicRoutes, { runtime })
  // Signed by their senders, not authenticated: their own scope keeps the raw body the signature is over.
  await app.register(inboundWebhookRoutes, { runtime })
  await app.register(async (scope) => {
    // Authentication runs in the one onRequest step, after the trace context (src/http/plugins/trace.ts).
    authenticateIn(scope, authenticator(runtime))
    // The idempotency claim comes first, so it covers the whole request, waiting included.
    idempotency(scope, runtime.sql, () => derivedSecret(runtime.config, 'idempotency-seal', runtime.logger))
    const waitForConsistency = consistency(runtime)
    scope.addHook('onRoute', (route) => appendRouteHook(route, 'preHandler', waitForConsistency))
    // Each organization route's declared x-permission, after the wait: the membership read honours X-Consistent-With.
    authorization(scope, runtime)
    await scope.register(authRoutes, { runtime })
    await scope.register(sessionRoutes, { runtime })
    await scope.register(organizationRoutes, { runtime })
    await scope.register(memberRoutes, { runtime })
    await scope.register(userAdminRoutes, { runtime })
    await scope.register(platformAuditRoutes, { runtime })
    await scope.register(adminJobRoutes, { runtime })
    await scope.register(adminAiBudgetRoutes, { runtime })
    await scope.register(permissionRoutes, { runtime })
    await scope.register(authzRoutes, { runtime })
    await scope.register(roleRoutes, { runtime })
    await scope.register(roleTestRoutes, { runtime })
    await scope.register(accessRoutes, { runtime })
    await scope.register(auditRetentionRoutes, { runtime })
    await scope.register(auditRoutes, { runtime })
    await scope.register(auditDigestRoutes, { runtime })
    await scope.register(auditVerifyRoutes, { runtime })
    await scope.register(impersonationRoutes, { runtime })
    await scope.register(toolRoutes, { runtime })
    await scope.register(assistantRoutes, { runtime })
    await scope.register(aiRoutes, { runtime })
    await scope.register(aiBudgetRoutes, { runtime })
    await scope.register(mcpRoutes, { runtime })
    await scope.register(webhookOutRoutes, { runtime })
    await scope.register(webhookSourceRoutes, { runtime })
  })
  return app
}
