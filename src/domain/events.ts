/**
 * Every event type of the system, registered once. Capabilities add their
 * definitions here as they land; appends of any other type are refused.
 */
import { EventRegistry, type EventDefinition } from './registry.ts'

export const eventDefinitions: readonly EventDefinition[] = []

export function createRegistry (extra: readonly EventDefinition[] = []): EventRegistry {
  return new EventRegistry([...eventDefinitions, ...extra])
}
