/**
 * Every event type of the system, registered once. Capabilities add their
 * definitions here as they land; appends of any other type are refused.
 */
import { identityEvents } from './identity/events.ts'
import { rbacEvents } from './rbac/events.ts'
import { EventRegistry, type EventDefinition } from './registry.ts'

export const eventDefinitions: readonly EventDefinition[] = [...identityEvents, ...rbacEvents]

export function createRegistry (extra: readonly EventDefinition[] = []): EventRegistry {
  return new EventRegistry([...eventDefinitions, ...extra])
}
