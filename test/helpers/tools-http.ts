/**
 * The tool routes' world: an application over a test database (the owner of
 * Org A as bootstrapped by test/helpers/app.ts), members with API tokens made
 * to measure (built-in roles, or one custom role with given grants and
 * nothing else), and the headers that read a write back.
 */
import type { Test } from 'tap'
import { addMember, assignRole, createRole, createToken, registerUser, unassignRole } from '../../src/application/identity/commands.ts'
import { systemCommand, type CommandMetadata } from '../../src/domain/envelope.ts'
import type { BuiltInRole } from '../../src/domain/identity/events.ts'
import type { GrantData } from '../../src/domain/rbac/events.ts'
import type { SqlClient } from '../../src/sql/client.ts'
import { openTestApp, type TestApp } from './app.ts'
import { settled } from './assertions.ts'

export interface Person { readonly userId: string, readonly token: string }

export interface ToolsApp {
  readonly api: TestApp
  readonly orgId: string
  /** A member of Org A with built-in roles, or whose only role is a custom one with `grants`. */
  member(name: string, roles: BuiltInRole[] | { grants: GrantData[] }): Promise<Person>
  /** Waits until the read models show everything written so far. */
  settled(): Promise<void>
}

/** Allows `actions` anywhere in the organization. */
export const allow = (...actions: string[]): GrantData => ({ actions, resource: '*', effect: 'allow' })

/** Headers of a read that waits for `position` (X-Consistent-With). */
export const after = (position: string | null): { headers: Record<string, string> } =>
  ({ headers: position === null ? {} : { 'x-consistent-with': position } })

export async function openToolsApp (t: Test, sql: SqlClient): Promise<ToolsApp> {
  const api = await openTestApp(t, sql)
  await api.runtime.jobs.stop()
  const { orgId } = api.owner
  const services = api.runtime.identity
  const asOwner = (): CommandMetadata => ({ ...systemCommand('tools-http-test'), actor: { type: 'user', id: api.owner.userId }, orgId })
  return {
    api,
    orgId,
    async member (name, roles) {
      const { userId } = await registerUser(services, systemCommand('tools-http-test'),
        { email: `${name}@tools.example`, displayName: name })
      const { token } = await createToken(services, systemCommand('tools-http-test'), userId, { name, kind: 'api' })
      if (Array.isArray(roles)) {
        await addMember(services, asOwner(), orgId, { userId, roles })
        return { userId, token }
      }
      await addMember(services, asOwner(), orgId, { userId, roles: ['viewer'] })
      const { roleId } = await createRole(services, asOwner(), orgId, { name: `only ${name}`, grants: roles.grants })
      await assignRole(services, asOwner(), orgId, userId, roleId)
      await unassignRole(services, asOwner(), orgId, userId, 'viewer')
      return { userId, token }
    },
    settled: () => settled(api.runtime)
  }
}
