/**
 * The event log bench:audit projects: organizations of the real domain
 * (identity, RBAC and audit-only events, as createRegistry() knows them)
 * appended through our PostgreSQL event store, with the metadata the HTTP
 * layer fills (actor, impersonator, IP, user agent, trace and request ids,
 * `now` spread over the last year).
 *
 * Per organization: its users are provisioned (`user-<id>`, in the
 * organization's log through `metadata.orgId`, so every row is in one of the
 * organizations' logs), then the organization is created with them as members and five custom
 * roles (`org-<id>`); then a year of traffic in the proportions of COMMANDS
 * below: sign-ins and sensitive reads most, role and settings changes less.
 * Events are not decided by the deciders (a million commands would take far
 * longer than appending them): they are valid events with plausible data, and
 * the projection does not care whether an unassigned role was assigned.
 *
 * Appends: `writers` writers, each owning every `writers`-th organization.
 * A segment of commands is grouped by stream and appended up to `batch`
 * events at a time; times are handed out in append order, so an
 * organization's rows are in time order as in production.
 */
import { metadataFor, type Actor, type CommandMetadata } from '../../src/domain/envelope.ts'
import type { EventStore, ExpectedVersion, NewEvent } from '../../src/eventstore/types.ts'
import { log } from './log.ts'
import { seededRandom } from './random.ts'

export interface AuditDataPlan {
  readonly orgs: number
  /** Events (so audit rows) in all. */
  readonly events: number
  readonly writers: number
  /** Events per append at most. */
  readonly batch: number
  /** The last event's time; the first is a year before. */
  readonly end: Date
}

export interface AuditData {
  readonly orgIds: string[]
  readonly events: number
  readonly seconds: number
}

const YEAR_MS = 365 * 24 * 3600 * 1000
const SEGMENT = 500

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'
const USER_AGENTS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'ledgerline-cli/0.1.0 node/20.19',
  'terraform-provider-ledgerline/1.4.2',
  'python-requests/2.31.0'
]
const BUILT_IN = ['admin', 'member', 'viewer'] as const
const VERBS = ['billing:read', 'billing:write', 'member:read', 'member:invite', 'webhook:manage', 'audit:read', 'secret:read']

interface Org {
  readonly id: string
  readonly users: ReadonlyArray<{ id: string, email: string, ips: string[], userAgent: string, tokenId: string }>
  readonly roles: string[]
}

/** One command: events of one stream, one actor, one `now`. */
interface Command {
  readonly stream: string
  readonly actor: Actor
  readonly impersonatorId?: string
  readonly ip?: string
  readonly userAgent?: string
  readonly orgId?: string
  readonly events: ReadonlyArray<{ type: string, data: unknown }>
}

class Generator {
  readonly #rnd: () => number
  #n = 0
  constructor (seed: number) { this.#rnd = seededRandom(seed) }

  pick<T> (items: readonly T[]): T { return items[Math.floor(this.#rnd() * items.length)]! }
  /** Skewed to the first items: a few users do most of the work. */
  skewed<T> (items: readonly T[]): T { return items[Math.floor(this.#rnd() ** 2 * items.length)]! }
  chance (p: number): boolean { return this.#rnd() < p }
  int (max: number): number { return Math.floor(this.#rnd() * max) }
  word (length: number): string { return Array.from({ length }, () => ALPHABET[this.int(ALPHABET.length)]).join('') }
  serial (): number { return ++this.#n }
  ip (): string {
    return this.chance(0.15)
      ? `2001:db8:${this.int(65536).toString(16)}::${this.int(65536).toString(16)}`
      : `${this.pick([203, 198, 192])}.${this.int(256)}.${this.int(256)}.${1 + this.int(254)}`
  }
}

function newOrg (g: Generator, index: number, users: number): Org {
  const id = `org_${g.word(10)}`
  return {
    id,
    users: Array.from({ length: users }, (_, k) => ({
      id: `usr_${g.word(14)}`, email: `user${k}.${index}@tenant${index}.example.com`,
      ips: Array.from({ length: 1 + g.int(3) }, () => g.ip()), userAgent: g.pick(USER_AGENTS), tokenId: `tok_${g.word(14)}`
    })),
    roles: Array.from({ length: 5 }, (_, k) => `role_o${index}r${k}`)
  }
}

function grants (g: Generator): unknown[] {
  return Array.from({ length: 1 + g.int(4) }, () => ({
    actions: [g.pick(VERBS)], resource: g.pick(['invoice', 'webhook', 'member', '*']), effect: g.chance(0.85) ? 'allow' : 'deny'
  }))
}

/** The request facts of a command by `user` (or a service, or support staff acting as the user). */
function by (g: Generator, org: Org): Pick<Command, 'actor' | 'impersonatorId' | 'ip' | 'userAgent' | 'orgId'> {
  const user = g.skewed(org.users)
  if (g.chance(0.07)) {
    return { actor: { type: 'service', id: 'svc_scim-sync' }, ip: '10.20.0.7', userAgent: 'ledgerline-scim/2.1', orgId: org.id }
  }
  const impersonatorId = g.chance(0.03) ? `usr_support${1 + g.int(3)}` : undefined
  return {
    actor: { type: 'user', id: user.id }, ...(impersonatorId === undefined ? {} : { impersonatorId }), ip: g.pick(user.ips),
    userAgent: user.userAgent, orgId: org.id
  }
}

type Maker = (g: Generator, org: Org) => Command

const orgCommand = (type: string, data: (g: Generator, org: Org) => unknown): Maker =>
  (g, org) => ({ stream: `org-${org.id}`, ...by(g, org), events: [{ type, data: data(g, org) }] })
const accessCommand = (type: string, data: (g: Generator, org: Org) => unknown): Maker =>
  (g, org) => ({ stream: `access-${org.id}`, ...by(g, org), events: [{ type, data: data(g, org) }] })
/** Sign-in trail of a user: `access-<userId>`, in the organization's log through `metadata.orgId`. */
const userAccess = (type: string, data: (g: Generator, user: Org['users'][number]) => unknown, actorIsUser = true): Maker =>
  (g, org) => {
    const user = g.skewed(org.users)
    const actor: Actor = actorIsUser ? { type: 'user', id: user.id } : { type: 'system', id: 'sign-in' }
    return {
      stream: `access-${user.id}`, actor, ip: g.pick(user.ips), userAgent: user.userAgent, orgId: org.id,
      events: [{ type, data: data(g, user) }]
    }
  }

const COMMANDS: ReadonlyArray<readonly [weight: number, make: Maker]> = [
  [24, userAccess('identity.session.signed_in', (g, u) => ({ userId: u.id, tokenId: `tok_${g.word(14)}`, method: 'password' }))],
  [4, userAccess('identity.session.sign_in_failed', (_g, u) => ({ email: u.email, userId: u.id, reason: 'invalid_credentials' }), false)],
  [3, userAccess('identity.token.used_from_new_ip',
    (g, u) => ({ tokenId: u.tokenId, userId: u.id, ip: g.ip(), previousIpCount: u.ips.length }))],
  [20, accessCommand('audit.record.sensitive_read', (g, org) => ({
    orgId: org.id, action: g.pick(VERBS), resource: `${g.pick(['invoice', 'member', 'secret'])}/r_${g.int(50_000)}`
  }))],
  [6, accessCommand('audit.log.searched',
    (g, org) => ({ orgId: org.id, filters: g.chance(0.5) ? { action: 'rbac.*' } : { actorId: g.pick(org.users).id } }))],
  [1, accessCommand('audit.log.exported',
    (g, org) => ({ orgId: org.id, format: g.pick(['csv', 'ndjson', 'json']), filters: {}, rows: g.int(20_000) }))],
  [7, orgCommand('org.organization.settings_changed',
    (g) => ({ settings: g.chance(0.5) ? { 'sso.enforced': g.chance(0.5) } : { 'session.ttlMinutes': 15 * (1 + g.int(16)) } }))],
  [5, orgCommand('org.member.role_assigned', (g, org) => ({ userId: g.pick(org.users).id, role: g.pick(BUILT_IN) }))],
  [4, orgCommand('org.member.role_unassigned', (g, org) => ({ userId: g.pick(org.users).id, role: g.pick(BUILT_IN) }))],
  [8, orgCommand('rbac.role.assigned', (g, org) => ({ roleId: g.pick(org.roles), userId: g.pick(org.users).id }))],
  [6, orgCommand('rbac.role.unassigned', (g, org) => ({ roleId: g.pick(org.roles), userId: g.pick(org.users).id }))],
  [5, orgCommand('rbac.role.grants_set', (g, org) => ({ roleId: g.pick(org.roles), grants: grants(g) }))],
  [2, orgCommand('rbac.role.renamed', (g, org) => ({ roleId: g.pick(org.roles), name: `Role ${g.word(6)}` }))],
  [2, orgCommand('rbac.role.described',
    (g, org) => ({ roleId: g.pick(org.roles), description: `Can ${g.pick(VERBS)} for team ${g.word(5)}` }))],
  [3, orgCommand('org.member.invited',
    (g) => ({ inviteId: `inv_${g.word(12)}`, email: `invitee${g.serial()}@partner.example.org`, roles: ['member'] }))],
  [0.5, orgCommand('org.organization.renamed', (g) => ({ name: `Tenant ${g.word(8)}` }))],
  [0.5, orgCommand('org.organization.plan_changed', (g) => ({ plan: g.pick(['free', 'pro', 'enterprise']) }))]
]
const TOTAL_WEIGHT = COMMANDS.reduce((sum, [w]) => sum + w, 0)

function nextCommand (g: Generator, org: Org): Command {
  let roll = g.int(1_000_000) / 1_000_000 * TOTAL_WEIGHT
  for (const [weight, make] of COMMANDS) {
    roll -= weight
    if (roll < 0) return make(g, org)
  }
  return COMMANDS[0]![1](g, org)
}

/** Registrations, the organization, its members and roles: what the year of traffic needs first. */
function setUpCommands (g: Generator, org: Org): Command[] {
  const owner = org.users[0]!
  // Provisioned by the organization's directory sync: in its log through `metadata.orgId`, like every row here.
  const scim: Actor = { type: 'service', id: 'svc_scim-sync' }
  const asOwner = { actor: { type: 'user', id: owner.id } as Actor, ip: owner.ips[0]!, userAgent: owner.userAgent, orgId: org.id }
  return [
    ...org.users.map((u): Command => ({
      stream: `user-${u.id}`, actor: scim, ip: '10.20.0.7', userAgent: 'ledgerline-scim/2.1', orgId: org.id,
      events: [{ type: 'identity.user.registered', data: { userId: u.id, email: u.email, displayName: `User ${u.email.split('@')[0]}` } }]
    })),
    {
      stream: `org-${org.id}`, ...asOwner,
      events: [{
        type: 'org.organization.created', data: { orgId: org.id, name: `Tenant ${org.id.slice(4)}`, plan: 'pro', ownerId: owner.id }
      }]
    },
    ...org.users.map((u, k): Command => ({
      stream: `org-${org.id}`, ...asOwner,
      events: [{ type: 'org.member.added', data: { userId: u.id, roles: [k === 0 ? 'owner' : g.pick(BUILT_IN)] } }]
    })),
    ...org.roles.map((roleId): Command => ({
      stream: `org-${org.id}`, ...asOwner,
      events: [{ type: 'rbac.role.created', data: { roleId, name: `Custom ${roleId}`, description: '', grants: grants(g) } }]
    }))
  ]
}

interface Clock { next(): Date }

/** `count` times in order across [start, end): one per slot, at a random point of it. */
function clock (g: Generator, start: number, end: number, count: number): Clock {
  let k = 0
  const slot = (end - start) / Math.max(1, count)
  return { next: () => new Date(start + slot * (k++ + g.int(1000) / 1000)) }
}

/** Appends commands grouped by stream (log order within a stream kept), `batch` events an append at most. */
async function appendSegment (
  store: EventStore, commands: readonly Command[], times: Clock, batch: number, versions: Map<string, bigint>
): Promise<number> {
  const byStream = new Map<string, Command[]>()
  for (const command of commands) byStream.set(command.stream, [...(byStream.get(command.stream) ?? []), command])
  let appended = 0
  for (const [stream, list] of byStream) {
    let events: NewEvent[] = []
    const flush = async (): Promise<void> => {
      if (events.length === 0) return
      const known = versions.get(stream)
      const expectedVersion: ExpectedVersion = !stream.startsWith('org-') ? 'any' : known === undefined ? 'no_stream' : known
      const result = await store.append(stream, events, { expectedVersion })
      if (stream.startsWith('org-')) versions.set(stream, result.nextExpectedVersion)
      appended += events.length
      events = []
    }
    for (const command of list) {
      if (events.length + command.events.length > batch) await flush()
      const metadata: CommandMetadata = {
        commandId: crypto.randomUUID(), now: times.next(), actor: command.actor, traceId: crypto.randomUUID().replaceAll('-', ''),
        requestId: `req_${crypto.randomUUID().slice(0, 18)}`,
        ...(command.orgId === undefined ? {} : { orgId: command.orgId }),
        ...(command.impersonatorId === undefined ? {} : { impersonatorId: command.impersonatorId }),
        ...(command.ip === undefined ? {} : { ip: command.ip }),
        ...(command.userAgent === undefined ? {} : { userAgent: command.userAgent })
      }
      command.events.forEach((event, index) => {
        const meta = metadataFor(metadata, index)
        events.push({ id: meta.eventId, type: event.type, data: event.data, metadata: meta })
      })
    }
    await flush()
  }
  return appended
}

/** Appends one organization's year: `events` events in all (its users' registrations included). */
async function appendOrg (store: EventStore, g: Generator, index: number, events: number, plan: AuditDataPlan): Promise<string> {
  const org = newOrg(g, index, Math.min(40, Math.max(5, Math.round(events / 250))))
  const setUp = setUpCommands(g, org)
  const end = plan.end.getTime()
  const start = end - YEAR_MS
  const versions = new Map<string, bigint>()
  // Set-up in the first day of the year, traffic over the rest.
  let left = events - await appendSegment(store, setUp, clock(g, start, start + 86_400_000, setUp.length), plan.batch, versions)
  const times = clock(g, start + 86_400_000, end, left)
  while (left > 0) {
    const commands = Array.from({ length: Math.min(SEGMENT, left) }, () => nextCommand(g, org))
    left -= await appendSegment(store, commands, times, plan.batch, versions)
  }
  return org.id
}

export async function appendAuditData (store: EventStore, plan: AuditDataPlan): Promise<AuditData> {
  const started = performance.now()
  const orgIds: string[] = new Array<string>(plan.orgs)
  let done = 0
  const perOrg = Math.floor(plan.events / plan.orgs)
  const writer = async (w: number): Promise<void> => {
    const g = new Generator(0x5eed + w)
    for (let i = w; i < plan.orgs; i += plan.writers) {
      const count = perOrg + (i < plan.events - perOrg * plan.orgs ? 1 : 0)
      orgIds[i] = await appendOrg(store, g, i, count, plan)
      done += count
      if ((i + 1) % Math.max(1, Math.round(plan.orgs / 10)) === 0) {
        log(`  appended ${done.toLocaleString('en-US')} events ` +
          `(${Math.round(done / ((performance.now() - started) / 1000)).toLocaleString('en-US')} events/s)`)
      }
    }
  }
  await Promise.all(Array.from({ length: plan.writers }, (_, w) => writer(w)))
  return { orgIds, events: done, seconds: (performance.now() - started) / 1000 }
}
