/**
 * The RBAC read model: the permission catalogue, every organization's roles
 * (built-in ones once, as organization `*`), their grants one row per action
 * pattern, and who holds which role. It answers the questions an admin
 * screen asks of many organizations at once ("who may export the audit
 * log?", "which roles grant billing:update?") in SQL; authorization itself
 * uses the compiled snapshots (src/application/rbac/policies.ts), folded
 * from the same events.
 *
 * The catalogue rows come from code, not from events: the projection's
 * version carries a fingerprint of the catalogue, so a deployment that adds
 * or changes actions (PERMISSIONS_FILE) rebuilds it beside the old one.
 */
import { createHash } from 'node:crypto'
import type { Catalogue } from '../../domain/rbac/permissions.ts'
import type { RecordedEvent } from '../../eventstore/types.ts'
import type { SqlTransaction } from '../../sql/client.ts'
import type { Projection } from '../projection.ts'

/** Built-in roles belong to every organization; their rows use this org id. */
export const EVERY_ORG = '*'

type Apply = (tx: SqlTransaction, orgId: string, data: Record<string, unknown>, event: RecordedEvent) => Promise<unknown>

interface GrantRow { actions: string[], resource: string, effect: string, when?: unknown }

const insertGrants = (tx: SqlTransaction, orgId: string, roleId: string, grants: readonly GrantRow[]): Promise<unknown> => tx.query(
  `INSERT INTO role_permissions (org_id, role_id, grant_index, action, resource, effect, condition)
   SELECT $1, $2, g.ordinality - 1, a.action, g.value->>'resource', g.value->>'effect', g.value->'when'
     FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS g,
          LATERAL (SELECT DISTINCT jsonb_array_elements_text(g.value->'actions') AS action) AS a
   ON CONFLICT DO NOTHING`,
  [orgId, roleId, JSON.stringify(grants)])

const assign = (tx: SqlTransaction, orgId: string, userId: unknown, roles: readonly unknown[], at: Date): Promise<unknown> => tx.query(
  `INSERT INTO membership_roles (org_id, user_id, role_id, assigned_at)
   SELECT $1, $2, r, $4 FROM unnest($3::text[]) AS r ON CONFLICT DO NOTHING`,
  [orgId, userId, roles, at])

const unassign = (tx: SqlTransaction, orgId: string, userId: unknown, roleId: unknown): Promise<unknown> =>
  tx.query('DELETE FROM membership_roles WHERE org_id = $1 AND user_id = $2 AND role_id = $3', [orgId, userId, roleId])

const handlers: Record<string, Apply> = {
  'org.member.added': async (tx, orgId, d, e) => {
    // Adding sets the member's roles anew (a member removed and added again starts over).
    await tx.query('DELETE FROM membership_roles WHERE org_id = $1 AND user_id = $2', [orgId, d.userId])
    await assign(tx, orgId, d.userId, d.roles as string[], e.recordedAt)
  },
  'org.member.removed': (tx, orgId, d) => tx.query('DELETE FROM membership_roles WHERE org_id = $1 AND user_id = $2', [orgId, d.userId]),
  'org.member.role_assigned': (tx, orgId, d, e) => assign(tx, orgId, d.userId, [d.role], e.recordedAt),
  'org.member.role_unassigned': (tx, orgId, d) => unassign(tx, orgId, d.userId, d.role),
  'rbac.role.assigned': (tx, orgId, d, e) => assign(tx, orgId, d.userId, [d.roleId], e.recordedAt),
  'rbac.role.unassigned': (tx, orgId, d) => unassign(tx, orgId, d.userId, d.roleId),
  'rbac.role.created': async (tx, orgId, d, e) => {
    await tx.query(
      `INSERT INTO roles (org_id, role_id, name, description, built_in, created_at, updated_at)
       VALUES ($1, $2, $3, $4, false, $5, $5) ON CONFLICT DO NOTHING`,
      [orgId, d.roleId, d.name, d.description, e.recordedAt])
    await insertGrants(tx, orgId, d.roleId as string, d.grants as GrantRow[])
  },
  'rbac.role.renamed': (tx, orgId, d, e) => tx.query('UPDATE roles SET name = $3, updated_at = $4 WHERE org_id = $1 AND role_id = $2',
    [orgId, d.roleId, d.name, e.recordedAt]),
  'rbac.role.described': (tx, orgId, d, e) =>
    tx.query('UPDATE roles SET description = $3, updated_at = $4 WHERE org_id = $1 AND role_id = $2',
      [orgId, d.roleId, d.description, e.recordedAt]),
  'rbac.role.grants_set': async (tx, orgId, d, e) => {
    await tx.query('DELETE FROM role_permissions WHERE org_id = $1 AND role_id = $2', [orgId, d.roleId])
    await insertGrants(tx, orgId, d.roleId as string, d.grants as GrantRow[])
    await tx.query('UPDATE roles SET updated_at = $3 WHERE org_id = $1 AND role_id = $2', [orgId, d.roleId, e.recordedAt])
  },
  'rbac.role.deleted': async (tx, orgId, d) => {
    await tx.query('DELETE FROM role_permissions WHERE org_id = $1 AND role_id = $2', [orgId, d.roleId])
    await tx.query('DELETE FROM membership_roles WHERE org_id = $1 AND role_id = $2', [orgId, d.roleId])
    await tx.query('DELETE FROM roles WHERE org_id = $1 AND role_id = $2', [orgId, d.roleId])
  }
}

const literal = (value: string): string => `'${value.replaceAll("'", "''")}'`

/** DDL, then the catalogue and the built-in roles as rows. */
function setup (catalogue: Catalogue): string {
  const permissions = catalogue.actions.map((d) => {
    const [resource, verb] = d.action.split(':') as [string, string]
    return `(${[d.action, resource, verb, d.description].map(literal).join(', ')}, ${d.sensitive}, ${d.ownerOnly}, ${literal(d.source)})`
  })
  const builtIn = Object.entries(catalogue.builtInRoleGrants)
  const roles = builtIn.map(([roleId]) => `(${literal(EVERY_ORG)}, ${literal(roleId)}, ${literal(roleId)}, 'built-in role', true)`)
  const grants = builtIn.flatMap(([roleId, actions]) => actions.map((action) =>
    `(${literal(EVERY_ORG)}, ${literal(roleId)}, 0, ${literal(action)}, '*', 'allow')`))
  return `
    CREATE TABLE permissions (
      action text PRIMARY KEY, resource text NOT NULL, verb text NOT NULL, description text NOT NULL,
      sensitive boolean NOT NULL, owner_only boolean NOT NULL, source text NOT NULL);
    CREATE TABLE roles (
      org_id text NOT NULL, role_id text NOT NULL, name text NOT NULL, description text NOT NULL, built_in boolean NOT NULL,
      created_at timestamptz, updated_at timestamptz, PRIMARY KEY (org_id, role_id));
    CREATE TABLE role_permissions (
      org_id text NOT NULL, role_id text NOT NULL, grant_index integer NOT NULL,
      action text NOT NULL, resource text NOT NULL, effect text NOT NULL, condition jsonb,
      PRIMARY KEY (org_id, role_id, grant_index, action));
    CREATE INDEX role_permissions_action ON role_permissions (action, org_id);
    CREATE TABLE membership_roles (
      org_id text NOT NULL, user_id text NOT NULL, role_id text NOT NULL, assigned_at timestamptz NOT NULL,
      PRIMARY KEY (org_id, user_id, role_id));
    CREATE INDEX membership_roles_role ON membership_roles (org_id, role_id);
    CREATE INDEX membership_roles_user ON membership_roles (user_id);
    INSERT INTO permissions VALUES ${permissions.join(', ')};
    INSERT INTO roles (org_id, role_id, name, description, built_in) VALUES ${roles.join(', ')};
    INSERT INTO role_permissions (org_id, role_id, grant_index, action, resource, effect) VALUES ${grants.join(', ')};`
}

/** Bump when the handlers or the tables change meaning. */
const HANDLERS_VERSION = 1

/** The handlers' version and the catalogue's fingerprint: a new catalogue is a new read model. */
function version (catalogue: Catalogue): number {
  const digest = createHash('sha256').update(JSON.stringify([catalogue.actions, catalogue.builtInRoleGrants])).digest()
  return HANDLERS_VERSION * 1_000_000 + (digest.readUInt32BE(0) % 1_000_000)
}

/** The projection over a catalogue (the runtime's: Ledgerline's actions and the host's). */
export function rbacProjection (catalogue: Catalogue): Projection {
  return {
    name: 'rbac',
    version: version(catalogue),
    eventTypes: Object.keys(handlers),
    tables: ['permissions', 'roles', 'role_permissions', 'membership_roles'],
    setup: setup(catalogue),
    async apply (events, tx) {
      for (const event of events) {
        const orgId = event.streamId.slice('org-'.length)
        await handlers[event.type]?.(tx, orgId, event.data as Record<string, unknown>, event)
      }
    }
  }
}
