/**
 * Refused attempts at sensitive actions, into the audit log, coalesced so a
 * burst cannot flood it (what CloudTrail records as AccessDenied).
 *
 * Per organization, actor, action and reason, a window opens with the first
 * refusal, which is written at once (count 1). Further refusals in the same
 * window are only counted; when the window closes (swept every tenth of it,
 * or at `flush`), one more event carries their count and the first and last
 * time. A burst of any size is then two rows per key and window, and the
 * counts add up to the refusals.
 *
 * Memory is bounded: at most `maxKeys` windows are open; a new key beyond
 * that closes the oldest window early (writing its count), so nothing is
 * lost, it is only written sooner.
 *
 * Writes do not hold up the refusal: the caller was told 403 either way. A
 * write that fails is reported to `onError` (the server logs it).
 */
import { randomUUID } from 'node:crypto'
import type { CommandMetadata } from '../../domain/envelope.ts'
import { maxPosition } from '../../eventstore/position.ts'
import type { LogPosition } from '../../eventstore/types.ts'
import { accessStreamId, append as appendAuditOnly, type AuditServices } from './access.ts'

export interface Denial {
  readonly orgId: string
  readonly action: string
  /** `<type>` or `<type>/<id>`, as grants name it. */
  readonly resource: string
  readonly reason: 'forbidden' | 'escalation'
  /** The refused request's: actor, trace, address. */
  readonly metadata: CommandMetadata
}

export interface DenialLogOptions {
  /** One row at once and at most one more per key and window. */
  readonly windowMs?: number
  readonly maxKeys?: number
  readonly now?: () => number
  readonly onError?: (error: unknown, denial: Denial) => void
}

interface Window {
  readonly denial: Denial
  readonly closesAt: number
  /** Refusals counted and not yet written, their first and last time, and the latest request's metadata. */
  count: number
  firstAt: number
  lastAt: number
  metadata: CommandMetadata
}

export const DENIAL_WINDOW_MS = 60_000
export const DENIAL_MAX_KEYS = 10_000

export class DenialLog {
  readonly #windows = new Map<string, Window>()
  readonly #writes = new Set<Promise<void>>()
  readonly #windowMs: number
  readonly #maxKeys: number
  readonly #now: () => number
  readonly #sweep: NodeJS.Timeout
  #written: LogPosition | undefined

  constructor (private readonly services: AuditServices, private readonly options: DenialLogOptions = {}) {
    this.#windowMs = options.windowMs ?? DENIAL_WINDOW_MS
    this.#maxKeys = options.maxKeys ?? DENIAL_MAX_KEYS
    this.#now = options.now ?? Date.now
    this.#sweep = setInterval(() => this.#closeExpired(), Math.max(10, this.#windowMs / 10))
    this.#sweep.unref()
  }

  /** Windows open (for tests and the bound). */
  get open (): number { return this.#windows.size }

  record (denial: Denial): void {
    const now = this.#now()
    const key = `${denial.orgId}\u0000${denial.metadata.actor.type}:${denial.metadata.actor.id}\u0000${denial.action}\u0000${denial.reason}`
    const window = this.#windows.get(key)
    if (window !== undefined && now < window.closesAt) {
      if (window.count === 0) window.firstAt = now
      window.count++
      window.lastAt = now
      window.metadata = denial.metadata
      return
    }
    if (window !== undefined) this.#close(key, window)
    else if (this.#windows.size >= this.#maxKeys) {
      const [oldest, open] = this.#windows.entries().next().value as [string, Window]
      this.#close(oldest, open)
    }
    this.#windows.set(key, { denial, closesAt: now + this.#windowMs, count: 0, firstAt: now, lastAt: now, metadata: denial.metadata })
    // The first row keeps the request's command id: a retried request is one refusal.
    this.#write(denial, denial.metadata, 1, now, now)
  }

  /** Writes every window's pending count now and waits for all writes; answers the last position written. */
  async flush (): Promise<LogPosition | undefined> {
    for (const [key, window] of this.#windows) this.#close(key, window)
    return this.settled()
  }

  /** Waits for the writes under way; answers the last position written, for a read that must see them. */
  async settled (): Promise<LogPosition | undefined> {
    while (this.#writes.size > 0) await Promise.all(this.#writes)
    return this.#written
  }

  async close (): Promise<void> {
    clearInterval(this.#sweep)
    await this.flush()
  }

  #closeExpired (): void {
    const now = this.#now()
    for (const [key, window] of this.#windows) if (now >= window.closesAt) this.#close(key, window)
  }

  #close (key: string, window: Window): void {
    this.#windows.delete(key)
    // A coalesced row stands for several requests: a fact of its own, under a command id of its own.
    if (window.count > 0) {
      this.#write(window.denial, { ...window.metadata, commandId: randomUUID() }, window.count, window.firstAt, window.lastAt)
    }
  }

  #write (denial: Denial, metadata: CommandMetadata, count: number, firstAt: number, lastAt: number): void {
    const { orgId, action, resource, reason } = denial
    const write = appendAuditOnly(this.services, accessStreamId(orgId), { ...metadata, orgId }, {
      type: 'authz.access.denied',
      data: { orgId, action, resource, reason, count, firstAt: new Date(firstAt).toISOString(), lastAt: new Date(lastAt).toISOString() }
    }).then((position) => { this.#written = this.#written === undefined ? position : maxPosition(this.#written, position) },
      (error: unknown) => this.options.onError?.(error, denial))
    this.#writes.add(write)
    void write.finally(() => this.#writes.delete(write))
  }
}
