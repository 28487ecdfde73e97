/**
 * Refused sensitive actions into the audit log (src/application/audit/denials.ts):
 * `authorize` (src/http/tenancy.ts) records a refused sensitive or owner-only
 * action; an `rbac.escalation` the domain throws is recorded here, at the
 * error boundary, for every route, so the domain stays as it is.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { DenialLog, type Denial } from '../../application/audit/denials.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata } from './auth.ts'

declare module 'fastify' {
  interface FastifyInstance {
    deniedAccess: DenialLog
  }
}

/** Records a refusal of `action` in `orgId` by the request's caller. */
export function recordDenial (request: FastifyRequest, denial: Omit<Denial, 'metadata'>): void {
  request.server.deniedAccess.record({ ...denial, metadata: commandMetadata(request, denial.orgId) })
}

export const denialsPlugin = fp(async (app: FastifyInstance, { runtime, windowMs }: { runtime: Runtime, windowMs?: number }) => {
  const log = new DenialLog(runtime.identity, {
    ...(windowMs === undefined ? {} : { windowMs }),
    onError: (error, denial) =>
      runtime.logger.error({ err: error, orgId: denial.orgId, action: denial.action },
        'a refused action could not be written to the audit log')
  })
  app.decorate('deniedAccess', log)
  app.addHook('onError', (request, _reply, error, done) => {
    const orgId = (request.params as { orgId?: unknown } | undefined)?.orgId
    const action = request.routeOptions.schema?.['x-permission']
    const escalation = (error as { code?: unknown }).code === 'rbac.escalation'
    if (escalation && typeof orgId === 'string' && action !== undefined && request.principal !== null) {
      recordDenial(request, { orgId, action, resource: `organization/${orgId}`, reason: 'escalation' })
    }
    done()
  })
  app.addHook('onClose', async () => log.close())
}, { name: 'denials' })
