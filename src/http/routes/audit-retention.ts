/**
 * How long an organization's audit log is kept: read it (audit:read) and set
 * it (audit:configure, owners only) within what the plan allows. The policy
 * is src/domain/audit/retention.ts; the purge, src/application/audit/retention.ts.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { changeOrganization, organizationState } from '../../application/identity/commands.ts'
import { retentionView } from '../../domain/audit/retention.ts'
import { OrgNotFound } from '../../domain/identity/errors.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata } from '../plugins/auth.ts'
import { BEARER, Id, Written, problems } from '../schemas.ts'

const OrgParams = z.object({ orgId: Id })
const RetentionView = z.object({
  days: z.number().int().describe('the retention in force'),
  setting: z.number().int().nullable().describe('what the organization set, or null for its plan\'s default'),
  plan: z.string(),
  default: z.number().int(),
  min: z.number().int(),
  max: z.number().int()
})

export async function auditRetentionRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get('/v1/orgs/:orgId/audit-retention', {
    schema: {
      tags: ['audit'], summary: 'How long the audit log is kept, and what the plan allows', security: BEARER, 'x-permission': 'audit:read',
      params: OrgParams, response: { 200: RetentionView, ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    const state = await organizationState(runtime.identity, orgId)
    if (state.status !== 'active') throw new OrgNotFound()
    return retentionView(state.plan, state.auditRetentionDays)
  })

  api.put('/v1/orgs/:orgId/audit-retention', {
    schema: {
      tags: ['audit'],
      summary: 'Sets how long the audit log is kept, in days within what the plan allows; ' +
        'null goes back to the plan\'s default (audit:configure, owners only)',
      security: BEARER, 'x-permission': 'audit:configure', params: OrgParams,
      body: z.object({ days: z.number().int().positive().max(10_000).nullable() }).strict(),
      response: { 200: Written, ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    return changeOrganization(runtime.identity, commandMetadata(request, orgId), orgId,
      { type: 'SetAuditRetention', data: { days: request.body.days } })
  })
}
