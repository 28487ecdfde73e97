/** The organization: read it (as GET /v1/orgs/:orgId) and rename it (as PATCH /v1/orgs/:orgId). */
import { z } from 'zod'
import { OrgNotFound } from '../../../domain/identity/errors.ts'
import { PLANS } from '../../../domain/identity/events.ts'
import { organization } from '../../../projections/identity/queries.ts'
import { updateOrganization } from '../../identity/commands.ts'
import { defineTool } from '../tool.ts'
import { EXAMPLE_ORG, EXAMPLE_TIME, orgResource, WrittenOutput } from './common.ts'

const OrganizationOutput = z.object({
  orgId: z.string(), name: z.string(), plan: z.enum(PLANS), settings: z.record(z.string(), z.unknown()),
  memberCount: z.number().int(), createdAt: z.string(), updatedAt: z.string()
}).strict()

export const orgGet = defineTool({
  name: 'org.get',
  title: 'Read the organization',
  description: 'The organization you are calling in: its name, plan, settings and member count.',
  input: z.object({}).strict(),
  output: OrganizationOutput,
  permission: { action: 'org:read', resource: (_input, { orgId }) => orgResource(orgId) },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  timeoutMs: 5000,
  retries: 2,
  approval: 'never',
  examples: [{
    input: {},
    output: {
      orgId: EXAMPLE_ORG, name: 'Demo Agency', plan: 'pro', settings: {}, memberCount: 4, createdAt: EXAMPLE_TIME, updatedAt: EXAMPLE_TIME
    }
  }],
  async run (_input, { services, orgId }) {
    const view = await organization(services.sql, orgId)
    if (view === undefined) throw new OrgNotFound()
    return { ...view, plan: view.plan as typeof PLANS[number] }
  }
})

export const orgRename = defineTool({
  name: 'org.rename',
  title: 'Rename the organization',
  description: 'Gives the organization a new name (1 to 200 characters, trimmed). Renaming to the current name changes nothing.',
  input: z.object({ name: z.string().trim().min(1).max(200) }).strict(),
  output: WrittenOutput,
  permission: { action: 'org:update', resource: ({ name }, { orgId }) => orgResource(orgId, { name }) },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  timeoutMs: 10_000,
  retries: 1,
  approval: 'never',
  examples: [{ input: { name: 'Demo Agency Europe' }, output: { position: '1042.0' } }],
  async run ({ name }, context) {
    return updateOrganization(context.services, context.command(), context.orgId, { name })
  }
})
