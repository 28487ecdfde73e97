import { conversationsProjection } from './assistant/conversations.ts'
import { spendProjection } from './assistant/spend.ts'
import { usageProjection } from './assistant/usage.ts'
import { auditProjection } from './audit/projection.ts'
import { identityProjection } from './identity/projection.ts'
import { invitationsProjection } from './identity/invitations.ts'
import { impersonationProjection } from './impersonation/projection.ts'
import { jobsProjection } from './jobs/projection.ts'
import type { Catalogue } from '../domain/rbac/permissions.ts'
import type { Projection } from './projection.ts'
import { outboundWebhooksProjection } from './webhooks/outbound.ts'
import { rbacProjection } from './rbac/projection.ts'
import { streamCatalogue } from './stream_catalogue/projection.ts'
import { toolCallsProjection } from './tools/projection.ts'
import { inboundWebhooksProjection } from './webhooks/inbound.ts'

/** Every read model the application runs; the RBAC one over the runtime's permission catalogue. */
export function applicationProjections (catalogue: Catalogue): Projection[] {
  return [streamCatalogue, identityProjection, rbacProjection(catalogue), auditProjection, impersonationProjection, invitationsProjection,
    jobsProjection, toolCallsProjection, inboundWebhooksProjection, outboundWebhooksProjection,
    conversationsProjection, usageProjection, spendProjection]
}

/** Their names, known before the configuration is read (CLI help). */
export const PROJECTION_NAMES: readonly string[] = ['stream_catalogue', 'identity', 'rbac', 'audit', 'impersonation', 'invitations', 'jobs',
  'tool_calls', 'webhooks_inbound', 'webhooks_out', 'ai_conversations', 'ai_usage', 'ai_spend']
