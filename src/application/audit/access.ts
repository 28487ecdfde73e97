/**
 * Appends the audit-only events (src/domain/audit/events.ts): the facts that
 * change no aggregate but must be in the audit log. Each lands in its
 * `access-<id>` stream with expected version `any` — nothing is decided, so
 * there is no version to expect — under an event id derived from the command
 * id and the event type: a retried command logs once, and one request may
 * record several different facts.
 *
 * Audit searches (`searchAuditLog`) and exports (`recordExport`, in export.ts)
 * record themselves through `recordAuditAccess`; a route that
 * reads something the catalogue marks sensitive calls `recordSensitiveRead`.
 * Call them before answering: a read whose trace cannot be written then fails
 * instead of going unlogged.
 */
import { createHash } from 'node:crypto'
import { metadataFor, uuidV5, type CommandMetadata } from '../../domain/envelope.ts'
import type { AuditOnlyEvent } from '../../domain/audit/events.ts'
import type { EventStore, LogPosition } from '../../eventstore/types.ts'
import { auditPage, type AuditFilters, type AuditPage, type AuditSort } from '../../projections/audit/queries.ts'
import type { SqlExecutor } from '../../sql/client.ts'

/** What recording needs: IdentityServices and the runtime both qualify. */
export interface AuditServices {
  readonly store: EventStore
}

/** `access-<userId>`, `access-<orgId>`. */
export const accessStreamId = (id: string): string => `access-${id}`

/** The stream of failed sign-ins on an address no user holds: hashed, as `email-…` streams are. */
export const unknownAddressStreamId = (normalizedEmail: string): string =>
  accessStreamId(createHash('sha256').update(normalizedEmail).digest('hex'))

/** Appends one audit-only event to `streamId` (src/application/audit/denials.ts coalesces into it too). */
export async function append (
  services: AuditServices, streamId: string, metadata: CommandMetadata, event: AuditOnlyEvent
): Promise<LogPosition> {
  const eventMetadata = metadataFor({ ...metadata, commandId: uuidV5(`${metadata.commandId}/${event.type}`) }, 0)
  const recorded = { id: eventMetadata.eventId, type: event.type, data: event.data, metadata: eventMetadata }
  const result = await services.store.append(streamId, [recorded], { expectedVersion: 'any' })
  return result.position
}

export type FilterValue = string | number | boolean | null | Date | undefined

/** Filters as a route parsed them: unset ones are left out, dates written as ISO 8601. */
function filtersOf (filters: Readonly<Record<string, FilterValue>>): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {}
  for (const [key, value] of Object.entries(filters)) {
    if (value !== undefined) out[key] = value instanceof Date ? value.toISOString() : value
  }
  return out
}

export type AuditAccess =
  | { readonly type: 'audit.log.searched', readonly orgId: string, readonly filters: Readonly<Record<string, FilterValue>> }
  | {
    readonly type: 'audit.log.exported', readonly orgId: string, readonly format: 'csv' | 'ndjson' | 'json',
    readonly filters: Readonly<Record<string, FilterValue>>, readonly rows?: number
  }

/** Records a search or an export of an organization's audit log, in `access-<orgId>`. */
export async function recordAuditAccess (services: AuditServices, metadata: CommandMetadata, access: AuditAccess): Promise<LogPosition> {
  const filters = filtersOf(access.filters)
  const event: AuditOnlyEvent = access.type === 'audit.log.searched'
    ? { type: access.type, data: { orgId: access.orgId, filters } }
    : {
        type: access.type,
        data: { orgId: access.orgId, format: access.format, filters, ...(access.rows === undefined ? {} : { rows: access.rows }) }
      }
  return append(services, accessStreamId(access.orgId), { ...metadata, orgId: access.orgId }, event)
}

/**
 * A page of an organization's audit log, the search recorded once, at its first page (no `after`): following its
 * cursor is the same search. The page is read first, so a search that fails is not recorded.
 */
export async function searchAuditLog (
  services: AuditServices & { readonly sql: SqlExecutor }, metadata: CommandMetadata, orgId: string,
  filters: AuditFilters & Readonly<Record<string, FilterValue>>, page: { sort: AuditSort, limit: number, after: string | undefined }
): Promise<AuditPage> {
  const found = await auditPage(services.sql, orgId, filters, page)
  if (page.after === undefined) await recordAuditAccess(services, metadata, { type: 'audit.log.searched', orgId, filters })
  return found
}

/** Records a platform admin's search of the platform's log, in their own `access-<userId>`. */
export async function recordPlatformLogSearch (
  services: AuditServices, metadata: CommandMetadata, filters: Readonly<Record<string, FilterValue>>
): Promise<LogPosition> {
  const event: AuditOnlyEvent = { type: 'audit.platform_log.searched', data: { filters: filtersOf(filters) } }
  return append(services, accessStreamId(metadata.actor.id), metadata, event)
}

/** Records a read of something sensitive: `action` from the catalogue, `resource` as `<type>` or `<type>/<id>`. */
export async function recordSensitiveRead (
  services: AuditServices, metadata: CommandMetadata, read: { orgId: string, action: string, resource: string }
): Promise<LogPosition> {
  const event: AuditOnlyEvent = { type: 'audit.record.sensitive_read', data: read }
  return append(services, accessStreamId(read.orgId), { ...metadata, orgId: read.orgId }, event)
}

export async function recordSignIn (
  services: AuditServices, metadata: CommandMetadata, signIn: { userId: string, tokenId: string }
): Promise<LogPosition> {
  const event: AuditOnlyEvent = { type: 'identity.session.signed_in', data: { ...signIn, method: 'password' } }
  return append(services, accessStreamId(signIn.userId), metadata, event)
}

/** A refused sign-in: in the user's stream when the address is theirs, else in the address's own. */
export async function recordSignInFailure (
  services: AuditServices, metadata: CommandMetadata,
  failure: { email: string, userId?: string, reason: 'invalid_credentials' | 'disabled' }
): Promise<LogPosition> {
  const streamId = failure.userId === undefined ? unknownAddressStreamId(failure.email) : accessStreamId(failure.userId)
  return append(services, streamId, metadata, { type: 'identity.session.sign_in_failed', data: failure })
}

/**
 * A token seen from an address it had not been seen from. The event id
 * derives from the token and the address, not the request: the same pair
 * reported again — by another node, or this one after a restart — adds
 * nothing to the log.
 */
export async function recordTokenUsedFromNewIp (
  services: AuditServices, metadata: CommandMetadata, use: { tokenId: string, userId: string, ip: string, previousIpCount: number }
): Promise<LogPosition> {
  const commandId = uuidV5(`token-ip/${use.tokenId}/${use.ip}`)
  return append(services, accessStreamId(use.userId), { ...metadata, commandId }, { type: 'identity.token.used_from_new_ip', data: use })
}
