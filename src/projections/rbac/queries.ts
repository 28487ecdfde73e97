/** Reads of the RBAC read model (src/projections/rbac/projection.ts). */
import type { SqlClient } from '../../sql/client.ts'
import { EVERY_ORG } from './projection.ts'

export interface HolderGrant {
  readonly userId: string
  readonly roleId: string
  /** The grant's index in its role. */
  readonly grant: number
  /** The action pattern as granted: the action itself, `<resource>:*` or `*`. */
  readonly pattern: string
  readonly resource: string
  readonly effect: 'allow' | 'deny'
  /** The grant has a condition: it applies only where the condition holds. */
  readonly conditional: boolean
}

/**
 * The members of an organization whose roles name `action` (exactly, by
 * `<resource>:*` or by `*`), one row per member, role and grant, ordered by
 * member. A deny row takes the action away where it applies; a conditional
 * row grants or takes it only where its condition holds.
 */
export async function holdersOf (sql: SqlClient, orgId: string, action: string): Promise<HolderGrant[]> {
  const { rows } = await sql.query<{ user_id: string, role_id: string, grant_index: number, action: string, resource: string,
    effect: 'allow' | 'deny', conditional: boolean }>(
    `SELECT mr.user_id, mr.role_id, rp.grant_index, rp.action, rp.resource, rp.effect, rp.condition IS NOT NULL AS conditional
       FROM membership_roles mr
       JOIN role_permissions rp ON rp.role_id = mr.role_id AND rp.org_id IN (mr.org_id, $3)
      WHERE mr.org_id = $1
        AND (rp.action = $2 OR rp.action = '*' OR (right(rp.action, 2) = ':*' AND starts_with($2, left(rp.action, -1))))
      ORDER BY mr.user_id, mr.role_id, rp.grant_index`,
    [orgId, action, EVERY_ORG])
  return rows.map((row) => ({
    userId: row.user_id,
    roleId: row.role_id,
    grant: row.grant_index,
    pattern: row.action,
    resource: row.resource,
    effect: row.effect,
    conditional: row.conditional
  }))
}
