/** Set-up and readings for the roles page's browser test (test/dashboard-roles-browser.test.ts). */
import type { Locator, Page } from 'playwright-core'
import { addMember } from '../../src/application/identity/commands.ts'
import { systemCommand } from '../../src/domain/envelope.ts'
import type { TestApp } from './app.ts'
import { PASSWORD, until } from './browser.ts'
import { register } from './http.ts'

export interface Grant { actions: string[], resource: string, effect: 'allow' | 'deny', when?: unknown }
export interface Owner { userId: string, orgId: string, token: string }

/** A field of the page by its exact accessible name. */
export const field = (page: Page | Locator, name: string) => page.getByLabel(name, { exact: true })

export async function member (api: TestApp, owner: Owner, email: string, role: 'owner' | 'admin' | 'member' | 'viewer'): Promise<string> {
  const { userId } = await register(api, email, PASSWORD)
  await addMember(api.runtime.identity, { ...systemCommand('browser-test'), actor: { type: 'user', id: owner.userId } }, owner.orgId,
    { userId, roles: [role] })
  return userId
}

export async function createRole (api: TestApp, owner: Owner, name: string, grants: Grant[]): Promise<string> {
  const created = await api.call('POST', `/v1/orgs/${owner.orgId}/roles`, { token: owner.token, body: { name, grants } })
  if (created.statusCode !== 201) throw new Error(`role ${name}: ${created.body}`)
  return (created.json() as { roleId: string }).roleId
}

export async function assign (api: TestApp, owner: Owner, userId: string, roleId: string): Promise<void> {
  const assigned = await api.call('PUT', `/v1/orgs/${owner.orgId}/members/${userId}/roles/${roleId}`, { token: owner.token })
  if (assigned.statusCode !== 200) throw new Error(`assign: ${assigned.body}`)
}

export interface ListedRole { roleId: string, name: string, description: string, builtIn: boolean, grants: Grant[], holders?: string[] }

export async function rolesOf (api: TestApp, owner: Owner): Promise<ListedRole[]> {
  const listed = await api.call('GET', `/v1/orgs/${owner.orgId}/roles`, { token: owner.token })
  if (listed.statusCode !== 200) throw new Error(`roles: ${listed.body}`)
  return (listed.json() as { items: ListedRole[] }).items
}

export async function roleNamed (api: TestApp, owner: Owner, name: string): Promise<ListedRole | undefined> {
  return (await rolesOf(api, owner)).find((role) => role.name === name)
}

/** Waits until the RBAC read model lists `userId` among the holders of `action` (GET …/access). */
export async function holdsAccess (api: TestApp, owner: Owner, action: string, userId: string): Promise<void> {
  await until(async () => {
    const access = await api.call('GET', `/v1/orgs/${owner.orgId}/access?action=${action}`, { token: owner.token })
    return (access.json() as { holders: Array<{ userId: string }> }).holders.some((holder) => holder.userId === userId)
  }, `${userId} among the holders of ${action}`)
}

/** The rows of the roles table: each role's name cell. */
export async function listedNames (page: Page): Promise<string[]> {
  return page.getByRole('table', { name: 'Roles' }).locator('tbody th[scope=row] .role-name').allTextContents()
}

/** Opens the new-role form and fills its name and one grant of `actions` (on every resource unless `resource` is given). */
export async function newRole (page: Page, name: string, actions: string, resource?: string): Promise<void> {
  await page.getByRole('button', { name: 'New role' }).click()
  await field(page, 'Name').fill(name)
  await page.getByRole('button', { name: 'Add a grant' }).click()
  await field(page, 'Grant 1: actions').fill(actions)
  if (resource !== undefined) await field(page, 'Grant 1: resource').fill(resource)
}

/** Fills one clause of the condition builder: `resource.<attribute> <op> <value>`. */
export async function fillClause (page: Page, name: string, attribute: string, op: string, value: string): Promise<void> {
  await field(page, `${name}: left attribute`).fill(attribute)
  await field(page, `${name}: operator`).selectOption(op)
  await field(page, `${name}: right value`).fill(value)
}

/** What one clause of the builder shows: its attribute, operator and value. */
export async function readClause (page: Page, name: string): Promise<string[]> {
  return [await field(page, `${name}: left attribute`).inputValue(), await field(page, `${name}: operator`).inputValue(),
    await field(page, `${name}: right value`).inputValue()]
}

/** A phone-width window shows nothing wider than itself. */
export async function overflow (page: Page): Promise<number> {
  return page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
}
