/**
 * Reads of the identity read model. Each answers from one statement, so a
 * result and the checkpoint it comes with belong to the same snapshot.
 */
import type { LogPosition } from '../../eventstore/types.ts'
import { START } from '../../eventstore/types.ts'
import type { SqlExecutor } from '../../sql/client.ts'

export interface MembershipView {
  readonly orgId: string
  readonly name: string
  readonly plan: string
  readonly roles: string[]
}

export interface MembershipsAt {
  readonly items: MembershipView[]
  /** The identity projection's checkpoint these rows reflect. */
  readonly asOf: LogPosition
}

export async function membershipsOf (sql: SqlExecutor, userId: string): Promise<MembershipsAt> {
  const { rows } = await sql.query<{
    org_id: string | null, name: string, plan: string, roles: string[], major: string | null, minor: string | null
  }>(
    `SELECT m.org_id, o.name, o.plan, m.roles, p.position_major::text AS major, p.position_minor::text AS minor
       FROM (SELECT position_major, position_minor FROM public.projections WHERE name = 'identity') p
       LEFT JOIN (memberships m JOIN organizations o USING (org_id)) ON m.user_id = $1
      ORDER BY o.name, m.org_id`, [userId], { name: 'identity_memberships_of' })
  const first = rows[0]
  const asOf = first?.major == null ? START : { major: BigInt(first.major), minor: BigInt(first.minor!) }
  const items = rows.filter((row) => row.org_id !== null)
    .map((row) => ({ orgId: row.org_id!, name: row.name, plan: row.plan, roles: row.roles }))
  return { items, asOf }
}

export interface OrganizationView {
  readonly orgId: string
  readonly name: string
  readonly plan: string
  readonly settings: Record<string, unknown>
  readonly memberCount: number
  readonly createdAt: string
  readonly updatedAt: string
}

export async function organization (sql: SqlExecutor, orgId: string): Promise<OrganizationView | undefined> {
  const { rows } = await sql.query<{
    org_id: string, name: string, plan: string, settings: Record<string, unknown>, members: string,
    created_at: Date | string, updated_at: Date | string
  }>(
    `SELECT o.org_id, o.name, o.plan, o.settings, o.created_at, o.updated_at,
            (SELECT count(*) FROM memberships m WHERE m.org_id = o.org_id)::text AS members
       FROM organizations o WHERE o.org_id = $1`, [orgId])
  const row = rows[0]
  if (row === undefined) return undefined
  return {
    orgId: row.org_id,
    name: row.name,
    plan: row.plan,
    settings: row.settings,
    memberCount: Number(row.members),
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString()
  }
}

export interface MemberView {
  readonly userId: string
  readonly email: string
  readonly displayName: string
  readonly status: string
  readonly roles: string[]
  readonly joinedAt: string
}

/** One page of members ordered by user id, after `after` (keyset: stable while members come and go). */
export async function membersPage (sql: SqlExecutor, orgId: string, limit: number, after?: string): Promise<MemberView[]> {
  const { rows } = await sql.query<{
    user_id: string, email: string, display_name: string, status: string, roles: string[], joined_at: Date | string
  }>(
    `SELECT m.user_id, u.email, u.display_name, u.status, m.roles, m.joined_at
       FROM memberships m JOIN users u USING (user_id)
      WHERE m.org_id = $1 AND ($2::text IS NULL OR m.user_id > $2)
      ORDER BY m.user_id LIMIT $3`, [orgId, after ?? null, limit])
  return rows.map((row) => ({
    userId: row.user_id,
    email: row.email,
    displayName: row.display_name,
    status: row.status,
    roles: row.roles,
    joinedAt: new Date(row.joined_at).toISOString()
  }))
}

export interface TokenView {
  readonly tokenId: string
  readonly kind: string
  readonly name: string
  readonly prefix: string
  readonly createdAt: string
  readonly expiresAt: string | null
  readonly revokedAt: string | null
}

const iso = (value: Date | string | null): string | null => value === null ? null : new Date(value).toISOString()

/** A user's tokens, newest first; hashes never leave the table. */
export async function tokensOf (sql: SqlExecutor, userId: string, limit = 200): Promise<TokenView[]> {
  const { rows } = await sql.query<{
    token_id: string, kind: string, name: string, prefix: string, created_at: Date | string, expires_at: Date | string | null,
    revoked_at: Date | string | null
  }>(
    `SELECT token_id, kind, name, prefix, created_at, expires_at, revoked_at
       FROM tokens WHERE user_id = $1 ORDER BY created_at DESC, token_id LIMIT $2`, [userId, limit])
  return rows.map((row) => ({
    tokenId: row.token_id,
    kind: row.kind,
    name: row.name,
    prefix: row.prefix,
    createdAt: new Date(row.created_at).toISOString(),
    expiresAt: iso(row.expires_at),
    revokedAt: iso(row.revoked_at)
  }))
}

/** Organizations where `userId` is the only owner: disabling that user would leave them ownerless. */
export async function soleOwnerships (sql: SqlExecutor, userId: string): Promise<string[]> {
  const { rows } = await sql.query<{ org_id: string }>(
    `SELECT m.org_id FROM memberships m
      WHERE m.user_id = $1 AND 'owner' = ANY (m.roles)
        AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.org_id = m.org_id AND o.user_id <> $1 AND 'owner' = ANY (o.roles))
      ORDER BY m.org_id`, [userId])
  return rows.map((row) => row.org_id)
}
