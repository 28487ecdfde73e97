/**
 * The event schema registry: one zod schema per event type. Appends validate
 * `data` against it; reads upcast old versions and parse. A schema that changes
 * gets a new version and an upcaster from the previous one; the old events in
 * the log are never rewritten.
 */
import type { z } from 'zod'
import { InvalidEventData, StoredEventUnreadable, UnknownEventType } from './errors.ts'

type Upcaster = (data: unknown) => unknown

export interface EventDefinition<T extends string = string, S extends z.ZodType = z.ZodType> {
  readonly type: T
  readonly schema: S
  /** Current schema version (default 1). */
  readonly version?: number
  /** `upcasters[v]` turns data written at version v into version v + 1. */
  readonly upcasters?: Readonly<Record<number, Upcaster>>
}

export function defineEvent<T extends string, S extends z.ZodType> (definition: EventDefinition<T, S>): EventDefinition<T, S> {
  return definition
}

export class EventRegistry {
  readonly #definitions = new Map<string, EventDefinition>()

  constructor (definitions: Iterable<EventDefinition> = []) {
    for (const definition of definitions) this.register(definition)
  }

  register (definition: EventDefinition): this {
    const existing = this.#definitions.get(definition.type)
    if (existing !== undefined && existing !== definition) {
      throw new Error(`event type ${definition.type} is registered twice`)
    }
    const version = definition.version ?? 1
    if (!Number.isInteger(version) || version < 1) {
      throw new Error(`event type ${definition.type}: version must be a positive integer, not ${version}`)
    }
    for (let v = 1; v < version; v++) {
      if (definition.upcasters?.[v] === undefined) {
        throw new Error(`event type ${definition.type} v${version} lacks an upcaster from v${v}`)
      }
    }
    this.#definitions.set(definition.type, definition)
    return this
  }

  has (type: string): boolean {
    return this.#definitions.has(type)
  }

  get types (): string[] {
    return [...this.#definitions.keys()]
  }

  versionOf (type: string): number {
    return this.#require(type).version ?? 1
  }

  /** Validates data for an append; returns the parsed (normalized) data. */
  validate (type: string, data: unknown): unknown {
    const result = this.#require(type).schema.safeParse(data)
    if (!result.success) throw invalid(type, result.error)
    return result.data
  }

  /**
   * Parses data read from the log, upcasting it from the version it was
   * written at. Types this build does not know (written by a newer one) pass
   * through untouched, so a reader never stops on them.
   */
  parse (type: string, data: unknown, writtenAt = 1): unknown {
    const definition = this.#definitions.get(type)
    // Unknown here, or written at a version newer than this build knows: pass it on untouched.
    if (definition === undefined || writtenAt > (definition.version ?? 1)) return data
    let value = data
    for (let v = writtenAt; v < (definition.version ?? 1); v++) value = definition.upcasters![v]!(value)
    const result = definition.schema.safeParse(value)
    if (!result.success) throw new StoredEventUnreadable(type, issuesOf(result.error))
    return result.data
  }

  #require (type: string): EventDefinition {
    const definition = this.#definitions.get(type)
    if (definition === undefined) throw new UnknownEventType(type)
    return definition
  }
}

function issuesOf (error: z.ZodError): Array<{ path: string, message: string }> {
  return error.issues.slice(0, 20).map((issue) => ({ path: issue.path.join('.'), message: issue.message }))
}

function invalid (type: string, error: z.ZodError): InvalidEventData {
  return new InvalidEventData(type, issuesOf(error))
}
