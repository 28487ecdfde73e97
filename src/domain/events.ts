/**
 * Every event type of the system, registered once. Capabilities add their
 * definitions here as they land; appends of any other type are refused.
 */
import { conversationEvents } from './assistant/events.ts'
import { budgetEvents } from './assistant/budget.ts'
import { quotaEvents } from './assistant/quota.ts'
import { auditEvents } from './audit/events.ts'
import { retentionEvents } from './audit/retention.ts'
import { identityEvents } from './identity/events.ts'
import { impersonationEvents } from './impersonation/events.ts'
import { jobEvents } from './jobs/events.ts'
import { jobKeyEvents } from './jobs/key.ts'
import { rbacEvents } from './rbac/events.ts'
import { toolCallEvents } from './tools/events.ts'
import { inboundWebhookEvents } from './webhooks/inbound-events.ts'
import { endpointEvents } from './webhooks/endpoint-events.ts'
import { messageEvents } from './webhooks/outbound-events.ts'
import { EventRegistry, type EventDefinition } from './registry.ts'

export const eventDefinitions: readonly EventDefinition[] = [
  ...identityEvents, ...rbacEvents, ...retentionEvents, ...auditEvents, ...impersonationEvents, ...jobEvents, ...jobKeyEvents,
  ...toolCallEvents, ...inboundWebhookEvents, ...endpointEvents, ...messageEvents, ...conversationEvents,
  ...quotaEvents, ...budgetEvents
]

export function createRegistry (extra: readonly EventDefinition[] = []): EventRegistry {
  return new EventRegistry([...eventDefinitions, ...extra])
}
