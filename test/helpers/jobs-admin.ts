/**
 * What the admin jobs API's tests share (test/jobs-admin-*.test.ts): an app
 * with a platform admin, a platform support person (staff but no admin,
 * refused as any other caller), and the pages of a paged route.
 */
import type { LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { bootstrap, changeUser, createToken, registerUser } from '../../src/application/identity/commands.ts'
import { systemCommand } from '../../src/domain/envelope.ts'
import type { SqlClient } from '../../src/sql/client.ts'
import { openTestApp, type TestApp } from './app.ts'
import { settled } from './assertions.ts'

export const ADMIN_EMAIL = 'staff@jobs.example'

/** A test app (its owner is no platform admin) and a platform admin's id and token. */
export async function adminApp (t: Test, sql: SqlClient): Promise<{ api: TestApp, token: string, adminId: string }> {
  const api = await openTestApp(t, sql)
  const admin = await bootstrap(api.runtime.identity, systemCommand('jobs-admin-test'),
    { email: ADMIN_EMAIL, orgName: 'Staff', platformAdmin: true })
  await settled(api.runtime)
  return { api, token: admin.token!, adminId: admin.userId }
}

/** The API token of a new platform support person (staff, not an admin). */
export async function supportToken (api: TestApp): Promise<string> {
  const support = await registerUser(api.runtime.identity, systemCommand('jobs-admin-test'),
    { email: 'support@jobs.example', displayName: 'support' })
  await changeUser(api.runtime.identity, systemCommand('jobs-admin-test'), support.userId,
    { type: 'SetStaffFlags', data: { platformAdmin: false, platformSupport: true } })
  const { token } = await createToken(api.runtime.identity, systemCommand('jobs-admin-test'), support.userId,
    { name: 'support', kind: 'api' })
  await settled(api.runtime)
  return token
}

/** Every page a paged route answers, following nextCursor from `call(null)` (a 200 each, or it throws), at most 2,000. */
export async function everyPage<P extends { nextCursor: string | null }> (
  call: (cursor: string | null) => Promise<LightMyRequestResponse>
): Promise<P[]> {
  const pages: P[] = []
  let cursor: string | null = null
  do {
    const response = await call(cursor)
    if (response.statusCode !== 200) throw new Error(`${response.statusCode} ${response.body}`)
    const page = response.json() as P
    pages.push(page)
    cursor = page.nextCursor
  } while (cursor !== null && pages.length < 2000)
  return pages
}
