/**
 * What is blocked while impersonating, walked over every route the app
 * serves: a blocked route answers 403 `impersonation.forbidden_action` (and
 * the attempt is recorded in the session), nothing else does; each entry of
 * the list in src/domain/impersonation/blocked.ts still names a route or a
 * catalogue action; docs/impersonation.md documents every entry. Outside organizations only
 * the allowed few answer: the security log, tokens and password are refused.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { addMember, registerUser } from '../src/application/identity/commands.ts'
import { requestImpersonation } from '../src/application/impersonation/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { ALLOWED_OUTSIDE_ORGS, BLOCKED_ACTIONS, blockedWhileImpersonating } from '../src/domain/impersonation/blocked.ts'
import { LEDGERLINE_CATALOGUE } from '../src/domain/rbac/permissions.ts'
import { openTestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { documentedRoutes, routeKey, routerRoutes } from './helpers/routes.ts'

/** Routes that end the session the walk acts in: called last, on their own. */
const ENDS_SESSION = new Set(['POST /v1/impersonation/stop', 'POST /v1/auth/logout'])

t.test('the blocked list names real routes and actions, and docs/impersonation.md documents it', async (t) => {
  const actions = new Set(LEDGERLINE_CATALOGUE.actions.map((definition) => definition.action))
  for (const action of BLOCKED_ACTIONS.keys()) t.ok(actions.has(action), `${action} is a catalogue action`)
  const page = readFileSync(new URL('../docs/impersonation.md', import.meta.url), 'utf8')
  for (const entry of [...BLOCKED_ACTIONS.keys(), ...[...ALLOWED_OUTSIDE_ORGS].filter((route) =>
    !route.startsWith('HEAD '))]) t.ok(page.includes(`\`${entry}\``), `docs/impersonation.md lists ${entry}`)
})

t.test('while impersonating, every blocked route is refused and recorded, and no other route is', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const served = routerRoutes(api.app)
    const keys = new Set(served.map(routeKey))
    for (const route of ALLOWED_OUTSIDE_ORGS) t.ok(keys.has(route), `${route} is a route of the app`)

    const as = (id: string) => ({ ...systemCommand('blocked-test'), actor: { type: 'user' as const, id } })
    const admin = await registerUser(api.runtime.identity, systemCommand('blocked-test'),
      { email: 'admin@blocked.example', displayName: 'admin' })
    const member = await registerUser(api.runtime.identity, systemCommand('blocked-test'),
      { email: 'member@blocked.example', displayName: 'member' })
    await addMember(api.runtime.identity, as(api.owner.userId), orgId, { userId: admin.userId, roles: ['admin'] })
    await addMember(api.runtime.identity, as(api.owner.userId), orgId, { userId: member.userId, roles: ['member'] })
    const { token, sessionId } = await requestImpersonation(api.runtime.impersonation, as(admin.userId), orgId,
      { userId: admin.userId, impersonating: false, via: 'member' }, { targetUserId: member.userId,
        reason: 'walking every route while impersonating' })

    const documented = await documentedRoutes<{ 'x-permission'?: string, security?: unknown[] }>(api.app)
    const permissions = new Map(documented.map((route) => [routeKey(route), route.operation['x-permission']]))
    // Sign-up and login take no token: there is no session to speak of.
    const publicRoutes = new Set(documented.filter((route) => route.operation.security === undefined).map(routeKey))
    const fill = (url: string): string => url.replace(/:(\w+)/g, (_whole, name: string) =>
      (name === 'orgId' ? orgId : name === 'sessionId' ? sessionId : 'x_walk'))
    let refused = 0
    const walk = served.filter((route) => route.url.startsWith('/v1/') && !ENDS_SESSION.has(routeKey(route)) &&
      !publicRoutes.has(routeKey(route)))
    t.ok(publicRoutes.has('POST /v1/auth/login') && walk.length > 40, `${walk.length} authenticated routes walked`)
    for (const route of walk) {
      const blocked = blockedWhileImpersonating(route.method, route.url, permissions.get(routeKey(route)) ??
        permissions.get(`GET ${route.url}`))
      const response = await api.app.inject({ method: route.method as 'GET', url: fill(route.url),
        headers: { authorization: `Bearer ${token!}` }, ...(route.method === 'GET' || route.method === 'HEAD' ? {} : { payload: {} }) })
      const code = route.method === 'HEAD' ? undefined : (response.json() as { code?: string }).code
      if (blocked !== undefined) {
        refused++
        t.equal(response.statusCode, 403, `${routeKey(route)} is blocked (${blocked})`)
        if (route.method !== 'HEAD') t.equal(code, 'impersonation.forbidden_action', `${routeKey(route)}: impersonation.forbidden_action`)
      } else {
        t.not(code, 'impersonation.forbidden_action', `${routeKey(route)} is not blocked (${response.statusCode})`)
        t.not(response.statusCode, 401, `${routeKey(route)}: the session is still on`)
      }
    }
    t.ok(refused >= BLOCKED_ACTIONS.size, `${refused} of ${walk.length} routes refused`)
    await settled(api.runtime)
    const { rows } = await api.runtime.sql.query<{ blocked_actions: number,
      status: string }>('SELECT blocked_actions, status FROM impersonation_sessions WHERE session_id = $1', [sessionId])
    t.same(rows, [{ blocked_actions: refused, status: 'active' }], 'every refusal is recorded in the session, which goes on')
  })
})
