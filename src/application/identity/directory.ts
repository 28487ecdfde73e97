/**
 * The directory answers "who is calling, and where are they a member" on
 * every request without a database round trip once warm.
 *
 * - Tokens and users are loaded from their own streams (the event store is
 *   the truth, so a token works on any node the moment its event is written).
 * - Memberships come from the identity read model, with the checkpoint they
 *   reflect. A membership change this node knows of (its own command, or one
 *   seen on the live subscription) is waited for before the read model is
 *   trusted again, so a role removed here is gone for the next request.
 * - A live subscription to the log drops entries whose events arrive; other
 *   nodes' changes take effect within that subscription's delay (NOTIFY, or
 *   at most the 1 s poll). Entries also expire after a TTL as a backstop.
 * - Per token, the addresses it was used from (`noteAddress`), so the first
 *   use from a new one is audited. This is the node's memory, bounded: seeded
 *   with the address the token was created from; a token created without one
 *   (CLI, bootstrap), or whose entry was evicted or forgotten in a restart,
 *   takes the first address it is seen from as known, unreported. The event
 *   id derives from token and address, so reporting a pair again — another
 *   node, a restart — adds nothing to the log.
 */
import { timingSafeEqual } from 'node:crypto'
import type { Logger } from 'pino'
import { aggregate, foldRecorded, type DomainEvent } from '../../domain/decider.ts'
import { tokenDecider, tokenStreamId, type TokenState } from '../../domain/identity/token.ts'
import { userDecider, userStreamId, type UserState } from '../../domain/identity/user.ts'
import { comparePositions, maxPosition } from '../../eventstore/position.ts'
import { followLog } from '../../eventstore/subscription.ts'
import { START, type EventStore, type LogPosition, type RecordedEvent } from '../../eventstore/types.ts'
import type { ProjectionRunner } from '../../projections/runner.ts'
import { membershipsOf, type MembershipView } from '../../projections/identity/queries.ts'
import type { SqlClient } from '../../sql/client.ts'
import { BoundedCache } from '../cache.ts'
import type { PolicySnapshots } from '../rbac/policies.ts'
import { endOf, sessionDecider, sessionStreamId, type SessionEnd, type SessionState } from '../../domain/impersonation/session.ts'
import { impersonationSessionOf, tokenDigest, tokenIdOf } from './secrets.ts'

/** The session an impersonation token acts in: the principal is its target, `impersonatorId` who really acts. */
export interface ImpersonationContext {
  readonly sessionId: string
  readonly orgId: string
  readonly impersonatorId: string
  readonly via: 'support' | 'member'
  readonly reason: string
  readonly ticket: string | null
  readonly breakGlass: boolean
  readonly startedAt: string
  readonly expiresAt: string
  /** The target as the directory knows them now: a session whose target was disabled or made staff must end (admission does). */
  readonly target: 'active' | 'disabled' | 'staff'
}

export interface Principal {
  readonly userId: string
  readonly email: string
  readonly displayName: string
  readonly platformAdmin: boolean
  readonly platformSupport: boolean
  readonly token: { readonly id: string, readonly kind: 'api' | 'session' | 'impersonation', readonly expiresAt?: string }
  /** Set when the token is an impersonation session's (RFC 8693's `act`: who acts for the user). */
  readonly impersonation?: ImpersonationContext
}

type TokenEntry = Extract<TokenState, { status: 'active' | 'revoked' }>
type UserEntry = Extract<UserState, { status: 'active' | 'disabled' }>
type SessionEntry = Extract<SessionState, { status: 'active' }>

/** Addresses remembered per token; beyond this the oldest is forgotten (and would be reported again, which adds nothing). */
const MAX_ADDRESSES_PER_TOKEN = 32

const MEMBERSHIP_EVENTS = new Set(['org.member.added', 'org.member.removed', 'org.member.role_assigned', 'org.member.role_unassigned',
  'rbac.role.assigned', 'rbac.role.unassigned'])
const ORG_EVENTS = new Set(['org.organization.renamed', 'org.organization.plan_changed'])
/** Events that start or end an impersonation session (not its recorded actions: they change nothing here). */
const SESSION_EVENTS = new Set(['impersonation.session.started', 'impersonation.session.stopped', 'impersonation.session.revoked',
  'impersonation.session.expired', 'impersonation.session.denied'])
/** The event types that can change what the directory answers. */
export const DIRECTORY_EVENT_TYPES = [
  ...MEMBERSHIP_EVENTS, ...ORG_EVENTS, 'rbac.role.created', 'rbac.role.grants_set', 'rbac.role.deleted',
  // Not password_set: a principal carries no password; sessions a change ends are revoked by their own events.
  'identity.token.revoked', 'identity.user.disabled', 'identity.user.enabled', 'identity.user.staff_flags_set',
  'org.organization.support_access_set', ...SESSION_EVENTS
]

export interface DirectoryOptions {
  readonly store: EventStore
  readonly sql: SqlClient
  readonly runner: ProjectionRunner
  readonly logger: Logger
  readonly maxEntries?: number
  readonly ttlMs?: number
  /** How long a read waits for the identity projection to reach a change this node knows of. */
  readonly waitMs?: number
  /** Live, read the log at most once per this many ms. */
  readonly liveIntervalMs?: number
  /** Told of every RBAC event, so organizations' compiled policies follow their roles. */
  readonly policies?: PolicySnapshots
}

export class IdentityDirectory {
  readonly #options: DirectoryOptions
  readonly #tokens: BoundedCache<TokenEntry>
  readonly #users: BoundedCache<UserEntry>
  /** Active impersonation sessions by id; an ended one is dropped when its event arrives. */
  readonly #sessions: BoundedCache<SessionEntry>
  /** Stored token digests as bytes, per cached token or session entry. */
  readonly #digests = new WeakMap<TokenEntry | SessionEntry, Buffer>()
  /** tokenId → the addresses it was created or used from, oldest first. */
  readonly #addresses: BoundedCache<Set<string>>
  readonly #memberships: BoundedCache<{ items: MembershipView[], asOf: LogPosition }>
  /** userId → position of the latest membership change seen; beyond `max`, the oldest fold into `#floor`. */
  readonly #changed = new Map<string, LogPosition>()
  /** No cached membership older than this is trusted (org renames, evicted change marks). */
  #floor: LogPosition = START
  /** The latest position of an event this node wrote or saw: what a read of this node's own writes must wait for. */
  #latest: LogPosition = START
  /** Bumped on every token or user invalidation: a load that raced one is not cached. */
  #epoch = 0
  #abort: AbortController | undefined

  constructor (options: DirectoryOptions) {
    this.#options = options
    const max = options.maxEntries ?? 50_000
    const ttl = options.ttlMs ?? 5 * 60_000
    this.#tokens = new BoundedCache(max, ttl)
    this.#users = new BoundedCache(max, ttl)
    this.#sessions = new BoundedCache(max, ttl)
    this.#memberships = new BoundedCache(max, ttl)
    this.#addresses = new BoundedCache(max)
  }

  /**
   * The latest position this node wrote or saw. The visible head of a shared
   * PostgreSQL can lag what this node has just written (an older transaction
   * elsewhere holds it back): a read model waited to this, and to the head,
   * has what this node did.
   */
  get latestSeen (): LogPosition {
    return this.#latest
  }

  /** The identity pack's logger: where login reports what it could not write to the audit log. */
  get logger (): Logger {
    return this.#options.logger
  }

  /** Follows the log from its current head, dropping what each event makes stale. */
  async start (): Promise<void> {
    const abort = new AbortController()
    this.#abort = abort
    const from = await this.#options.store.headPosition()
    void this.#follow(from, abort.signal)
  }

  stop (): void {
    this.#abort?.abort()
  }

  /** The shared follow-and-retry loop (eventstore/subscription.ts); a failure forgets every entry, then follows again in 1 s. */
  async #follow (from: LogPosition, signal: AbortSignal): Promise<void> {
    const onFailure = (error: unknown): void => {
      this.#options.logger.warn({ err: error }, 'directory subscription failed; following again in 1 s')
      this.#tokens.clear()
      this.#users.clear()
      this.#sessions.clear()
      this.#memberships.clear()
    }
    const options = { types: DIRECTORY_EVENT_TYPES, signal, liveIntervalMs: this.#options.liveIntervalMs ?? 0, onFailure, delayMs: () =>
      1000 }
    await followLog(this.#options.store, from, options, (batch) => {
      for (const event of batch.events) this.observe(event.streamId, event, event.position)
    })
  }

  /** Drops what `event` makes stale. Called for events seen on the log and for this node's own commands. */
  observe (streamId: string, event: DomainEvent | RecordedEvent, position: LogPosition | undefined): void {
    const at = position ?? START
    if (comparePositions(at, this.#latest) > 0) this.#latest = at
    this.#options.policies?.observe(streamId, event.type)
    if (event.type === 'identity.token.revoked') {
      this.#tokens.delete(streamId.slice('token-'.length))
      this.#epoch++
    } else if (SESSION_EVENTS.has(event.type)) {
      this.#sessions.delete(streamId.slice('impersonation-'.length))
      this.#epoch++
    } else if (event.type.startsWith('identity.user.')) {
      this.#users.delete(streamId.slice('user-'.length))
      this.#epoch++
    } else if (MEMBERSHIP_EVENTS.has(event.type)) {
      const userId = (event.data as { userId: string }).userId
      this.#memberships.delete(userId)
      this.#markChanged(userId, at)
    } else if (ORG_EVENTS.has(event.type)) {
      this.#memberships.clear()
      this.#floor = maxPosition(this.#floor, at)
    }
  }

  #markChanged (userId: string, position: LogPosition): void {
    const previous = this.#changed.get(userId)
    this.#changed.delete(userId)
    this.#changed.set(userId, previous === undefined ? position : maxPosition(previous, position))
    if (this.#changed.size > (this.#options.maxEntries ?? 50_000)) {
      const [oldestUser, oldest] = this.#changed.entries().next().value!
      this.#changed.delete(oldestUser)
      this.#floor = maxPosition(this.#floor, oldest)
    }
  }

  /**
   * The principal behind a bearer token, or undefined (malformed, unknown,
   * revoked, expired, or its user disabled). Answers synchronously when the
   * token and its user are cached: the common case costs no promise.
   */
  authenticate (token: string, now = Date.now()): Principal | undefined | Promise<Principal | undefined> {
    const sessionId = impersonationSessionOf(token)
    if (sessionId !== undefined) return this.#impersonation(token, sessionId, now)
    const tokenId = tokenIdOf(token)
    if (tokenId === undefined) return undefined
    const state = this.#tokens.get(tokenId, now)
    if (state === undefined) return this.#token(tokenId, now).then((loaded) => this.#principal(token, tokenId, loaded, now))
    return this.#principal(token, tokenId, state, now)
  }

  #principal (token: string, tokenId: string, state: TokenEntry | undefined,
    now: number): Principal | undefined | Promise<Principal | undefined> {
    if (state === undefined || state.status !== 'active' || !timingSafeEqual(tokenDigest(token),
      this.#digestOf(state, state.token.hash))) return undefined
    const { expiresAt } = state.token
    if (expiresAt !== undefined && Date.parse(expiresAt) <= now) return undefined
    const user = this.#users.get(state.token.userId, now)
    if (user === undefined) return this.#user(state.token.userId, now).then((loaded) => this.#toPrincipal(tokenId, state, loaded))
    return this.#toPrincipal(tokenId, state, user)
  }

  /**
   * An impersonation token: its session must be active and before its
   * expiry; the principal is the target, with the session as its
   * `impersonation` (and the target's state, which admission judges).
   */
  async #impersonation (token: string, sessionId: string, now: number): Promise<Principal | undefined> {
    const session = this.#sessions.get(sessionId, now) ?? await this.#load(this.#sessions, sessionId, async () => {
      const state = await aggregate(this.#options.store, sessionDecider, sessionStreamId(sessionId))
      return state.status === 'active' ? state : { status: 'none' as const }
    }, now)
    if (session === undefined || Date.parse(session.expiresAt) <= now) return undefined
    if (!timingSafeEqual(tokenDigest(token), this.#digestOf(session, session.tokenHash))) return undefined
    const { request } = session
    const user = this.#users.get(request.targetUserId, now) ?? await this.#user(request.targetUserId, now)
    if (user === undefined) return undefined
    return {
      userId: request.targetUserId,
      email: user.email,
      displayName: user.displayName,
      // Never staff powers through an impersonation, whatever the target became.
      platformAdmin: false,
      platformSupport: false,
      token: { id: sessionId, kind: 'impersonation', expiresAt: session.expiresAt },
      impersonation: {
        sessionId,
        orgId: request.orgId,
        impersonatorId: request.impersonatorId,
        via: request.via,
        reason: request.reason,
        ticket: request.ticket ?? null,
        breakGlass: request.breakGlass,
        startedAt: session.startedAt,
        expiresAt: session.expiresAt,
        target: user.status !== 'active' ? 'disabled' : user.platformAdmin || user.platformSupport ? 'staff' : 'active'
      }
    }
  }

  /**
   * How the session of an impersonation token that no longer works ended:
   * stopped, expired, revoked (with its code) or denied. Only for the token
   * of that very session (its digest matches the one the session started
   * with), so a guessed, mistyped or never-issued token learns nothing.
   * Asked after `authenticate` refused the token, off the hot path: it reads
   * the session's stream, uncached.
   */
  async impersonationEnd (token: string, now = Date.now()): Promise<SessionEnd | undefined> {
    const sessionId = impersonationSessionOf(token)
    if (sessionId === undefined) return undefined
    const state = await aggregate(this.#options.store, sessionDecider, sessionStreamId(sessionId))
    const tokenHash = state.status === 'active' || state.status === 'ended' ? state.tokenHash : null
    if (tokenHash === null || !timingSafeEqual(tokenDigest(token), Buffer.from(tokenHash, 'hex'))) return undefined
    return endOf(state, new Date(now))
  }

  /** A user as the directory knows them (cached): for re-checks such as an impersonator's rights. */
  async userOf (userId: string, now = Date.now()): Promise<UserEntry | undefined> {
    return this.#users.get(userId, now) ?? await this.#user(userId, now)
  }

  /** An entry's stored digest (hex) as bytes, decoded once per entry. */
  #digestOf (entry: TokenEntry | SessionEntry, hex: string): Buffer {
    let digest = this.#digests.get(entry)
    if (digest === undefined) {
      digest = Buffer.from(hex, 'hex')
      this.#digests.set(entry, digest)
    }
    return digest
  }

  #toPrincipal (tokenId: string, state: TokenEntry, user: UserEntry | undefined): Principal | undefined {
    if (user === undefined || user.status !== 'active') return undefined
    const { expiresAt } = state.token
    return {
      userId: state.token.userId,
      email: user.email,
      displayName: user.displayName,
      platformAdmin: user.platformAdmin,
      platformSupport: user.platformSupport,
      token: { id: tokenId, kind: state.token.kind, ...(expiresAt === undefined ? {} : { expiresAt }) }
    }
  }

  /** Folds a stream into the cache; a load that raced an invalidation answers but is not kept. */
  async #load<S extends { status: string }> (cache: BoundedCache<S>, id: string, read: () => Promise<S | { status: 'none' }>,
    now: number): Promise<S | undefined> {
    const epoch = this.#epoch
    const state = await read()
    if (state.status === 'none') return undefined
    if (epoch === this.#epoch) cache.set(id, state as S, now)
    return state as S
  }

  #token (tokenId: string, now: number): Promise<TokenEntry | undefined> {
    return this.#load(this.#tokens, tokenId, async () => {
      const events = await this.#options.store.readStream(tokenStreamId(tokenId))
      const created = events[0]?.metadata.ip
      if (events.length > 0 && this.#addresses.get(tokenId) === undefined) this.#addresses.set(tokenId,
        new Set(created === undefined ? [] : [created]))
      return foldRecorded(tokenDecider, events)
    }, now)
  }

  /**
   * Notes that an authenticated token was used from `ip`. When the address is
   * new to it, answers how many others it was known from (report it); else
   * undefined. Synchronous, one map lookup: it runs on every request.
   */
  noteAddress (tokenId: string, ip: string): number | undefined {
    const known = this.#addresses.get(tokenId)
    if (known === undefined) {
      this.#addresses.set(tokenId, new Set([ip]))
      return undefined
    }
    if (known.has(ip)) return undefined
    const previous = known.size
    known.add(ip)
    if (known.size > MAX_ADDRESSES_PER_TOKEN) known.delete(known.values().next().value!)
    return previous === 0 ? undefined : previous
  }

  #user (userId: string, now: number): Promise<UserEntry | undefined> {
    return this.#load(this.#users, userId, () => aggregate(this.#options.store, userDecider, userStreamId(userId)), now)
  }

  /**
   * The user's memberships. `atLeast` (from X-Consistent-With) and any change
   * this node has seen for the user are waited for in the read model first.
   */
  async membershipsOf (userId: string, atLeast: LogPosition = START, now = Date.now()): Promise<MembershipView[]> {
    let need = maxPosition(maxPosition(atLeast, this.#floor), this.#changed.get(userId) ?? START)
    const cached = this.#memberships.get(userId, now)
    if (cached !== undefined && comparePositions(cached.asOf, need) >= 0) return cached.items
    if (comparePositions(need, START) > 0) await this.#options.runner.waitFor(need, this.#options.waitMs ?? 5000, ['identity'])
    const loaded = await membershipsOf(this.#options.sql, userId)
    need = maxPosition(maxPosition(atLeast, this.#floor), this.#changed.get(userId) ?? START)
    if (comparePositions(loaded.asOf, need) >= 0) this.#memberships.set(userId, loaded, now)
    return loaded.items
  }
}
