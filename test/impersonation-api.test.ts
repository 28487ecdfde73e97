/**
 * Impersonation end to end over HTTP, on every database driver: start → act
 * → blocked action → stop; expiry; break-glass request → approval by someone
 * else → start (self-approval refused); revocation mid-session, by an owner
 * and by taking the impersonator's right away; support access turned off by
 * the owner; every guard; the audit rows and the target's security log.
 */
import t, { type Test } from 'tap'
import { addMember, changeUser, disableUser } from '../src/application/identity/commands.ts'
import { hashToken } from '../src/application/identity/secrets.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem, register } from './helpers/http.ts'

/** 401 `impersonation.ended`, saying how the session ended (and, for a revocation, its code). */
function ended401 (t: Test, response: Parameters<typeof problem>[1], reason: string, cause?: string): void {
  problem(t, response, 401, 'impersonation.ended')
  t.match(response.json(), { reason, ...(cause === undefined ? {} : { cause }) },
    `ended: ${reason}${cause === undefined ? '' : ` (${cause})`}`)
  t.match(String(response.headers['www-authenticate']), /^Bearer/)
}

interface Cast {
  api: TestApp
  orgId: string
  /** Admin of org A: holds impersonation:start, approve, revoke. */
  ada: { userId: string, token: string }
  /** Second admin: an approver who is not the requester. */
  ben: { userId: string, token: string }
  /** Member of org A (and of org B) with a custom role allowing org:update. */
  mia: { userId: string, token: string }
  /** Platform support staff, member of nothing. */
  sam: { userId: string, token: string }
  orgB: string
}

async function join (api: TestApp, orgId: string, userId: string, roles: ReadonlyArray<'admin' | 'member' | 'viewer'>): Promise<void> {
  await addMember(api.runtime.identity, systemCommand('test'), orgId, { userId, roles: [...roles] })
}

async function cast (t: Test, api: TestApp): Promise<Cast> {
  const { orgId } = api.owner
  const ada = await register(api, 'ada@a.example')
  const ben = await register(api, 'ben@a.example')
  const mia = await register(api, 'mia@a.example')
  const sam = await register(api, 'sam@support.example')
  // Members join directly (the application function), not through invitations: what is tested here starts after.
  for (const [user, roles] of [[ada, ['admin']], [ben, ['admin']], [mia, ['member']]] as const) await join(api, orgId, user.userId, roles)
  // Everyday powers (not critical), and org:read denied while impersonated: a policy can tell.
  const grants = [
    { actions: ['org:update', 'authz:check', 'member:invite'], resource: '*', effect: 'allow' },
    { actions: ['org:read'], resource: '*', effect: 'deny', when: { eq: [{ ref: 'context.impersonating' }, true] } }
  ]
  const role = await api.call('POST', `/v1/orgs/${orgId}/roles`, { body: { name: 'Editor', grants } })
  t.equal(role.statusCode, 201, role.body)
  const assigned = await api.call('PUT', `/v1/orgs/${orgId}/members/${mia.userId}/roles/${role.json().roleId as string}`)
  t.equal(assigned.statusCode, 200, assigned.body)
  await changeUser(api.runtime.identity, systemCommand('test'), sam.userId,
    { type: 'SetStaffFlags', data: { platformAdmin: false, platformSupport: true } })
  const other = await api.newOwner('owner@b.example', 'Org B')
  await join(api, other.orgId, mia.userId, ['viewer'])
  await settled(api.runtime)
  return { api, orgId, ada, ben, mia, sam, orgB: other.orgId }
}

const REASON = 'customer asked for help with their settings (SUP-1)'

async function start (c: Cast, token: string, body: Record<string, unknown>) {
  return c.api.call('POST', `/v1/orgs/${c.orgId}/impersonations`, { token, body: { reason: REASON, ...body } })
}

async function auditActions (c: Cast,
  query: string): Promise<Array<{ action: string, actorId: string, impersonatorId: string | null, targetType: string,
    targetId: string | null, diff: Record<string, { after?: unknown }> | null }>> {
  await settled(c.api.runtime)
  const response = await c.api.call('GET', `/v1/orgs/${c.orgId}/audit-events?sort=asc&limit=500&${query}`)
  if (response.statusCode !== 200) throw new Error(response.body)
  return response.json().items
}

/** The session once it has ended (waiting up to 5 s for the re-check reactor and the read model). */
async function ended (c: Cast, sessionId: string): Promise<{ status: string, endedBy: string | null, endReason: string | null }> {
  for (let i = 0; ; i++) {
    const view = (await c.api.call('GET', `/v1/orgs/${c.orgId}/impersonations/${sessionId}`)).json()
    if (view.status !== 'active' || i === 100) return view
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('impersonation over HTTP', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const c = await cast(t, api)
    const { orgId } = c

    await t.test('start → act as the member → blocked action → stop', async (t) => {
      const started = await start(c, c.ada.token, { targetUserId: c.mia.userId })
      t.equal(started.statusCode, 201, started.body)
      const { sessionId, token, expiresAt, status } = started.json()
      t.equal(status, 'active')
      t.match(token, /^lli_[a-z2-7]{16}_/)
      const minutes = (Date.parse(expiresAt) - Date.now()) / 60_000
      t.ok(minutes > 29 && minutes <= 30, `30 minutes by default (${minutes.toFixed(2)})`)

      const session = await api.call('GET', '/v1/session', { token })
      t.equal(session.statusCode, 200, session.body)
      t.match(session.json(), {
        user: { userId: c.mia.userId },
        token: { id: sessionId, kind: 'impersonation', expiresAt },
        act: { sub: c.ada.userId },
        impersonation: { sessionId, orgId, impersonator: { userId: c.ada.userId, email: 'ada@a.example' }, via: 'member', reason: REASON,
          breakGlass: false, expiresAt }
      })
      t.same(session.json().memberships.map((m: { orgId: string }) => m.orgId), [orgId], 'only the session\'s organization')
      t.match(String(session.headers.impersonation),
        new RegExp(`session="${sessionId}", impersonator="${c.ada.userId}", expires="${expiresAt}"`))

      const renamed = await api.call('PATCH', `/v1/orgs/${orgId}`, { token, body: { name: 'Renamed while impersonating' } })
      t.equal(renamed.statusCode, 200, renamed.body)
      t.ok(renamed.headers.impersonation, 'every response carries the header')
      const events = await api.runtime.store.readStream(`org-${orgId}`)
      t.match(events.at(-1),
        { type: 'org.organization.renamed', metadata: { actor: { type: 'user', id: c.mia.userId }, impersonatorId: c.ada.userId } })

      problem(t, await api.call('GET', `/v1/orgs/${c.orgB}`, { token }), 404, 'org.not_found')
      problem(t, await api.call('GET', `/v1/orgs/${orgId}`, { token }), 403, 'auth.forbidden')
      t.equal((await api.call('GET', `/v1/orgs/${orgId}`, { token: c.mia.token })).statusCode, 200,
        'the deny holds only under context.impersonating')
      const checks = { checks: [{ action: 'member:invite', resource: { type: 'organization' } },
        { action: 'org:update', resource: { type: 'organization' } }] }
      t.same((await api.call('POST', `/v1/orgs/${orgId}/authz/check`, { token, body: checks })).json().results,
        [{ allowed: false }, { allowed: true }],
        'authz/check answers a blocked action as denied for the impersonated caller')
      t.same((await api.call('POST', `/v1/orgs/${orgId}/authz/check`, { token: c.mia.token, body: checks })).json().results,
        [{ allowed: true }, { allowed: true }])
      const blocked = [
        await api.call('PUT', '/v1/me/password', { token, body: { newPassword: 'a whole new password' } }),
        await api.call('POST', '/v1/tokens', { token, body: { name: 'keep me' } }),
        await start(c, token, { targetUserId: c.ben.userId }),
        await api.call('PUT', `/v1/orgs/${orgId}/plan`, { token, body: { plan: 'pro' } }),
        await api.call('GET', '/v1/me/security-log', { token }),
        await api.call('GET', '/v1/tokens', { token })
      ]
      for (const response of blocked) {
        problem(t, response, 403, 'impersonation.forbidden_action')
        t.ok(response.headers.impersonation, 'a refusal carries the header too')
      }

      const stopped = await api.call('POST', '/v1/impersonation/stop', { token })
      t.equal(stopped.statusCode, 200, stopped.body)
      ended401(t, await api.call('GET', '/v1/session', { token }), 'stopped')
      t.equal((await api.call('GET', '/v1/session', { token })).json().cause, undefined, 'a stop has no code')
      // The session's id with another secret, a token of no session, a malformed one: nothing to learn.
      problem(t, await api.call('GET', '/v1/session', { token: `${token.slice(0, -4)}AAAA` }), 401, 'auth.unauthenticated')
      problem(t, await api.call('GET', '/v1/session', { token: `lli_${'a'.repeat(16)}_${'A'.repeat(43)}` }), 401, 'auth.unauthenticated')
      problem(t, await api.call('GET', '/v1/session', { token: 'lli_nonsense' }), 401, 'auth.unauthenticated')

      const rows = await auditActions(c, 'action=impersonation.*')
      const mine = rows.filter((row) => (row.diff?.sessionId?.after) === sessionId)
      t.same(mine.map((row) => row.action), [
        'impersonation.impersonator.reserved', 'impersonation.session.requested', 'impersonation.session.started',
        ...Array(12).fill('impersonation.session.action_recorded'),
        'impersonation.session.stopped'
      ])
      t.match(mine[0], { targetType: 'impersonation_session', targetId: sessionId },
        'the reservation is about the session it was taken for')
      t.ok(mine.slice(1).every((row) => row.targetId === c.mia.userId), 'every other row is about the member impersonated')
      t.same(mine.filter((row) => row.action.endsWith('action_recorded')).map((row) => row.diff?.outcome?.after),
        ['allowed', 'allowed', 'blocked', 'allowed', 'allowed', ...Array(6).fill('blocked'), 'allowed'],
        'session, rename, the other organization (refused as not found), the organization (denied by policy), ' +
        'authz/check, six refusals, the stop')
      const rename = (await auditActions(c, 'action=org.organization.renamed')).at(-1)
      t.match(rename, { actorId: c.mia.userId, impersonatorId: c.ada.userId }, 'the audit log says who did what as whom')

      const log = await api.call('GET', '/v1/me/security-log', { token: c.mia.token })
      t.equal(log.statusCode, 200, log.body)
      const seen = log.json().items.filter((item: { details: { sessionId?: string } }) => item.details.sessionId === sessionId)
        .map((item: { action: string }) => item.action)
      t.same(seen, ['impersonation.session.stopped', 'impersonation.session.started', 'impersonation.session.requested'],
        'the member sees it start and end')

      const { rows: everything } = await api.runtime.sql.query<{ row: string }>('SELECT row_to_json(a)::text AS row FROM audit_events a')
      const leaked = everything.filter(({ row }) => row.includes(token) || row.includes(hashToken(token))
        || row.includes(token.slice('lli_'.length + 17)))
      t.same(leaked, [], 'neither the token nor its hash is in the audit log')
    })

    await t.test('a session ends at its expiry: the token stops working, the sweep records it', async (t) => {
      const started = await start(c, c.ada.token, { targetUserId: c.mia.userId, durationMinutes: 1 })
      t.equal(started.statusCode, 201, started.body)
      const { sessionId, token, expiresAt } = started.json()
      t.equal((Date.parse(expiresAt) - Date.now()) <= 60_000, true)
      t.ok(api.runtime.identity.directory.authenticate(token), 'works now')
      const later = Date.parse(expiresAt) + 1
      t.equal(await api.runtime.identity.directory.authenticate(token, later), undefined, 'not a millisecond after its expiry')
      t.equal(await api.runtime.identity.directory.impersonationEnd(token, later - 2), undefined, 'a millisecond before it, not ended')
      t.same(await api.runtime.identity.directory.impersonationEnd(token, later), { reason: 'expired', code: null },
        'a millisecond after, ended: expired')
      await settled(api.runtime)
      t.same(await api.runtime.impersonationExpiry.runOnce(new Date(Date.now())), [], 'nothing due yet')
      t.same(await api.runtime.impersonationExpiry.runOnce(new Date(later)), [sessionId])
      t.same(await api.runtime.impersonationExpiry.runOnce(new Date(later)), [], 'recorded once')
      const rows = await auditActions(c, 'action=impersonation.session.expired')
      t.match(rows.at(-1), { targetId: c.mia.userId, diff: { sessionId: { after: sessionId }, stage: { after: 'active' } } })
      ended401(t, await api.call('GET', '/v1/session', { token }), 'expired')
    })

    await t.test('break-glass: an owner needs a ticket and a second approver, for at most 15 minutes', async (t) => {
      const ownerId = api.owner.userId
      problem(t, await start(c, c.ada.token, { targetUserId: ownerId }), 409, 'impersonation.break_glass_required')
      problem(t, await start(c, c.ada.token, { targetUserId: ownerId, ticket: 'SUP-42', durationMinutes: 16 }), 422,
        'impersonation.duration_exceeds_cap')
      const requested = await start(c, c.ada.token, { targetUserId: ownerId, ticket: 'SUP-42' })
      t.equal(requested.statusCode, 202, requested.body)
      t.match(requested.json(), { status: 'pending', token: null })
      const { sessionId } = requested.json()
      const url = `/v1/orgs/${orgId}/impersonations/${sessionId}`
      problem(t, await api.call('POST', `${url}/approve`, { token: c.ada.token }), 403, 'impersonation.self_approval')
      problem(t, await api.call('POST', `${url}/approve`, { token: api.owner.token }), 403, 'impersonation.target_approval')
      problem(t, await api.call('POST', `${url}/start`, { token: c.ada.token }), 409, 'impersonation.approval_required')
      const mine = await api.call('GET', url, { token: c.ada.token })
      t.match(mine.json(), { status: 'pending', breakGlass: true, critical: true, ticket: 'SUP-42', durationMinutes: 15 })
      const approved = await api.call('POST', `${url}/approve`, { token: c.ben.token })
      t.equal(approved.statusCode, 200, approved.body)
      problem(t, await api.call('POST', `${url}/start`, { token: c.ben.token }), 403, 'impersonation.not_yours')
      const started = await api.call('POST', `${url}/start`, { token: c.ada.token })
      t.equal(started.statusCode, 201, started.body)
      const { token, expiresAt } = started.json()
      t.ok(Date.parse(expiresAt) - Date.now() <= 15 * 60_000, 'at most 15 minutes')
      const session = await api.call('GET', '/v1/session', { token })
      t.match(session.json(), { user: { userId: ownerId }, impersonation: { breakGlass: true, ticket: 'SUP-42' } })
      problem(t, await api.call('POST', `${url}/start`, { token: c.ada.token }), 409, 'impersonation.already_started')
      t.equal((await api.call('POST', `${url}/stop`, { token: c.ada.token })).statusCode, 200, 'stopped with the impersonator\'s own token')
      const rows = (await auditActions(c, 'action=impersonation.*')).filter((row) => row.diff?.sessionId?.after === sessionId)
      t.same(rows.map((row) => row.action), [
        'impersonation.impersonator.reserved', 'impersonation.session.requested', 'impersonation.session.approved',
        'impersonation.session.started',
        'impersonation.session.action_recorded', 'impersonation.session.stopped'
      ])
      t.match(rows[2], { actorId: c.ben.userId, diff: { approverId: { after: c.ben.userId } } })
      const denied = (await auditActions(c, 'action=impersonation.session.denied')).map((row) => row.diff?.reason?.after)
      t.ok(denied.includes('break_glass_required'), 'the request without a ticket was recorded as denied')

      // Turned down, with the approver's reason; then by the target (who may refuse), with the former field name;
      // each frees Ada for the next.
      const turnedDown: string[] = []
      for (const [who, body] of [[c.ben.token, { reason: 'no incident open for this owner' }],
        [api.owner.token, { note: 'I am around: ask me instead' }]] as const) {
        const again = await start(c, c.ada.token, { targetUserId: ownerId, ticket: 'SUP-43' })
        t.equal(again.statusCode, 202, again.body)
        const deny = await api.call('POST', `/v1/orgs/${orgId}/impersonations/${again.json().sessionId as string}/deny`,
          { token: who, body })
        t.equal(deny.statusCode, 200, deny.body)
        turnedDown.push(again.json().sessionId)
      }
      const refusals = (await auditActions(c, 'action=impersonation.session.denied'))
        .filter((row) => turnedDown.includes(row.diff?.sessionId?.after as string))
      t.same(refusals.map((row) => [row.actorId, row.diff?.reason?.after, row.diff?.note?.after]), [
        [c.ben.userId, 'rejected_by_approver', 'no incident open for this owner'],
        [ownerId, 'rejected_by_approver', 'I am around: ask me instead']
      ], 'the refusal\'s code and the words of who refused')
    })

    await t.test('revocation mid-session: by an owner, and by taking the impersonator\'s right away', async (t) => {
      const first = await start(c, c.ada.token, { targetUserId: c.mia.userId })
      t.equal(first.statusCode, 201, first.body)
      t.equal((await api.call('GET', '/v1/session', { token: first.json().token })).statusCode, 200)
      const firstUrl = `/v1/orgs/${orgId}/impersonations/${first.json().sessionId as string}/revoke`
      problem(t, await api.call('POST', firstUrl, { body: { reason: 'both names', note: 'both names' } }), 400, 'http.validation')
      const revoked = await api.call('POST', firstUrl, { body: { reason: 'not agreed with the customer' } })
      t.equal(revoked.statusCode, 200, revoked.body)
      ended401(t, await api.call('GET', '/v1/session', { token: first.json().token }), 'revoked', 'revoked')

      const second = await start(c, c.ada.token, { targetUserId: c.mia.userId })
      t.equal(second.statusCode, 201, second.body)
      const { token, sessionId } = second.json()
      t.equal((await api.call('GET', `/v1/orgs/${orgId}/members`, { token })).statusCode, 200)
      // Ada is an admin: hand her the viewer role instead. With the re-check reactor held, the next request itself ends it.
      api.runtime.impersonationRecheck.stop()
      t.equal((await api.call('PUT', `/v1/orgs/${orgId}/members/${c.ada.userId}/roles/viewer`)).statusCode, 200)
      t.equal((await api.call('DELETE', `/v1/orgs/${orgId}/members/${c.ada.userId}/roles/admin`)).statusCode, 200)
      ended401(t, await api.call('GET', `/v1/orgs/${orgId}/members`, { token }), 'revoked', 'impersonator_lost_permission')
      ended401(t, await api.call('GET', '/v1/session', { token }), 'revoked', 'impersonator_lost_permission')
      await api.runtime.impersonationRecheck.start()
      const rows = (await auditActions(c, 'action=impersonation.session.revoked')).map((row) => row.diff)
      t.match(rows.at(-2),
        { revokedBy: { after: api.owner.userId }, reason: { after: 'revoked' }, note: { after: 'not agreed with the customer' } })
      t.match(rows.at(-1),
        { sessionId: { after: sessionId }, revokedBy: { after: 'system' }, reason: { after: 'impersonator_lost_permission' } })
      problem(t, await start(c, c.ada.token, { targetUserId: c.mia.userId }), 403, 'auth.forbidden')
      t.equal((await api.call('PUT', `/v1/orgs/${orgId}/members/${c.ada.userId}/roles/admin`)).statusCode, 200, 'admin again')

      // Without any request: an ordinary session whose target is made an admin (it would be break-glass without
      // its guards), or whose target is disabled, ends as the change lands; enabling the target again does not bring it back.
      const third = await start(c, c.ada.token, { targetUserId: c.mia.userId })
      t.equal(third.statusCode, 201, third.body)
      t.equal((await api.call('PUT', `/v1/orgs/${orgId}/members/${c.mia.userId}/roles/admin`)).statusCode, 200)
      t.match(await ended(c, third.json().sessionId), { status: 'revoked', endedBy: 'system', endReason: 'target_became_critical' })
      ended401(t, await api.call('GET', `/v1/orgs/${orgId}/members`, { token: third.json().token }), 'revoked', 'target_became_critical')
      t.equal((await api.call('DELETE', `/v1/orgs/${orgId}/members/${c.mia.userId}/roles/admin`)).statusCode, 200, 'a member again')

      const fourth = await start(c, c.ada.token, { targetUserId: c.mia.userId })
      t.equal(fourth.statusCode, 201, fourth.body)
      await changeUser(api.runtime.identity, systemCommand('test'), c.mia.userId, { type: 'DisableUser', data: { lastOwnerOf: [] } })
      t.match(await ended(c, fourth.json().sessionId), { status: 'revoked', endReason: 'target_unavailable' })
      await changeUser(api.runtime.identity, systemCommand('test'), c.mia.userId, { type: 'EnableUser', data: {} })
      ended401(t, await api.call('GET', '/v1/session', { token: fourth.json().token }), 'revoked', 'target_unavailable')

      const fifth = await start(c, c.ada.token, { targetUserId: c.mia.userId })
      t.equal(fifth.statusCode, 201, fifth.body)
      t.equal((await api.call('DELETE', `/v1/orgs/${orgId}/members/${c.ada.userId}/roles/admin`)).statusCode, 200, 'ada a viewer again')
      t.match(await ended(c, fifth.json().sessionId), { status: 'revoked', endReason: 'impersonator_lost_permission' },
        'taking the right away ends the session at once')
      t.equal((await api.call('PUT', `/v1/orgs/${orgId}/members/${c.ada.userId}/roles/admin`)).statusCode, 200, 'admin again')

      // Revoke all: its position lets the caller read its own write, as after any other command. (Ben starts this one: Ada's
      // starts in this file come near the 20 a minute each impersonator may make.)
      const sixth = await start(c, c.ben.token, { targetUserId: c.mia.userId })
      t.equal(sixth.statusCode, 201, sixth.body)
      const all = await api.call('POST', `/v1/orgs/${orgId}/impersonations/revoke-all`, { body: { reason: 'end of the drill' } })
      t.equal(all.statusCode, 200, all.body)
      t.same(all.json().revoked, [sixth.json().sessionId], 'the one open session')
      t.type(all.json().position, 'string', 'and the position of its revocation')
      const active = await api.call('GET', `/v1/orgs/${orgId}/impersonations?status=active`,
        { headers: { 'x-consistent-with': all.json().position as string } })
      t.same(active.json().items, [], 'a read at that position shows no session active')
    })

    await t.test('support staff impersonate until the owner turns support access off', async (t) => {
      const started = await start(c, c.sam.token, { targetUserId: c.mia.userId })
      t.equal(started.statusCode, 201, started.body)
      const { token, sessionId } = started.json()
      t.match((await api.call('GET', '/v1/session', { token })).json(),
        { impersonation: { via: 'support', impersonator: { userId: c.sam.userId } } })
      problem(t, await api.call('PUT', `/v1/orgs/${orgId}/support-access`, { token: c.ada.token, body: { enabled: false } }), 403,
        'auth.forbidden')
      const off = await api.call('PUT', `/v1/orgs/${orgId}/support-access`, { body: { enabled: false } })
      t.equal(off.statusCode, 200, off.body)
      t.same(off.json().revoked, [sessionId], 'the open support session ended with it')
      const stillActive = await api.call('GET', `/v1/orgs/${orgId}/impersonations?status=active`,
        { headers: { 'x-consistent-with': off.json().position as string } })
      t.same(stillActive.json().items, [], 'a read at the answer\'s position shows the revocation too')
      ended401(t, await api.call('GET', '/v1/session', { token }), 'revoked', 'support_access_disabled')
      problem(t, await start(c, c.sam.token, { targetUserId: c.mia.userId }), 403, 'impersonation.support_access_disabled')
      problem(t, await start(c, c.sam.token, { targetUserId: 'usr_nobodyatallxxxxx' }), 403, 'impersonation.support_access_disabled')
      await settled(api.runtime)
      const log = (await api.call('GET', '/v1/me/security-log', { token: c.mia.token }))
        .json().items as Array<{ action: string, actor: string, ip: string | null, details: Record<string, unknown> }>
      const support = log.filter((item) => item.details.sessionId === sessionId)
      t.ok(support.length >= 3, 'the member sees the support session')
      t.ok(support.every((item) => item.actor === 'platform support' && item.ip === null && item.details.impersonatorId == null),
        'as platform support\'s, without a staff address or name')
      t.same((await api.call('GET', `/v1/orgs/${orgId}/support-access`)).json(), { enabled: false })
      const changes = await auditActions(c, 'action=org.organization.support_access_set')
      t.match(changes.at(-1), { actorId: api.owner.userId, diff: { supportAccess: { before: true, after: false } } })
      t.equal((await api.call('PUT', `/v1/orgs/${orgId}/support-access`, { body: { enabled: true } })).statusCode, 200)
      const again = await start(c, c.sam.token, { targetUserId: c.mia.userId })
      t.equal(again.statusCode, 201, again.body)
      t.equal((await api.call('POST', '/v1/auth/logout', { token: again.json().token })).statusCode, 200,
        'logging out of an impersonation stops it')
    })

    await t.test('guards: yourself, nesting, a disabled user, staff, a non-member, one session at a time', async (t) => {
      problem(t, await start(c, c.ada.token, { targetUserId: c.ada.userId }), 403, 'impersonation.self')
      problem(t, await start(c, c.ada.token, { targetUserId: 'usr_nobodyatallxxxxx' }), 404, 'impersonation.target_not_member')
      const stranger = await register(api, 'stranger@elsewhere.example')
      problem(t, await start(c, c.ada.token, { targetUserId: stranger.userId }), 404, 'impersonation.target_not_member')
      await settled(api.runtime)
      const strangerLog = (await api.call('GET', '/v1/me/security-log', { token: stranger.token }))
        .json().items as Array<{ action: string }>
      t.same(strangerLog.filter((item) => item.action.startsWith('impersonation.')), [], 'nobody writes into a stranger\'s security log')
      const staffer = await register(api, 'staff-member@a.example')
      await join(api, orgId, staffer.userId, ['member'])
      await changeUser(api.runtime.identity, systemCommand('test'), staffer.userId,
        { type: 'SetStaffFlags', data: { platformAdmin: true, platformSupport: false } })
      problem(t, await start(c, c.ada.token, { targetUserId: staffer.userId }), 403, 'impersonation.target_is_staff')
      const leaver = await register(api, 'leaver@a.example')
      await join(api, orgId, leaver.userId, ['member'])
      await disableUser(api.runtime.identity, systemCommand('test'), leaver.userId)
      problem(t, await start(c, c.ada.token, { targetUserId: leaver.userId }), 409, 'impersonation.target_disabled')
      problem(t, await start(c, c.mia.token, { targetUserId: c.ben.userId }), 403, 'auth.forbidden')
      problem(t, await start(c, c.sam.token, { targetUserId: c.mia.userId, durationMinutes: 61 }), 400, 'http.validation')

      const first = await start(c, c.ada.token, { targetUserId: c.mia.userId })
      t.equal(first.statusCode, 201, first.body)
      problem(t, await start(c, c.ada.token, { targetUserId: c.mia.userId }), 409, 'impersonation.already_active')
      problem(t, await start(c, first.json().token, { targetUserId: c.ben.userId }), 403, 'impersonation.forbidden_action')
      t.equal((await api.call('POST', '/v1/impersonation/stop', { token: first.json().token })).statusCode, 200)
      problem(t, await api.call('POST', '/v1/impersonation/stop', { token: c.ada.token }), 409, 'impersonation.not_impersonating')
      const next = await start(c, c.ada.token, { targetUserId: c.mia.userId })
      t.equal(next.statusCode, 201, `once stopped, the next one starts: ${next.body}`)
      t.equal((await api.call('POST', '/v1/impersonation/stop', { token: next.json().token })).statusCode, 200)

      const rows = await auditActions(c, 'action=impersonation.session.denied')
      const reasons = rows.map((row) => row.diff?.reason?.after)
      for (const reason of ['self', 'target_not_member', 'target_is_staff', 'target_disabled', 'impersonator_busy',
        'support_access_disabled']) t.ok(reasons.includes(reason), `${reason} is in the audit log`)
      t.match(rows.find((row) => row.diff?.reason?.after === 'impersonator_busy'), { diff: { requestReason: { after: REASON } } },
        'a refusal keeps the requester\'s reason beside its code')
      const refused = (await api.call('GET', `/v1/orgs/${orgId}/impersonations?status=ended&limit=200`))
        .json().items as Array<{ status: string, endReason: string, reason: string }>
      t.match(refused.find((s) => s.endReason === 'impersonator_busy'), { status: 'denied', reason: REASON },
        'and so does the list of sessions')
    })

    await t.test('the organization lists its sessions: active, pending, ended', async (t) => {
      await settled(api.runtime)
      const list = async (status: string, token?: string) => {
        const response = await api.call('GET', `/v1/orgs/${orgId}/impersonations?status=${status}`, token === undefined ? {} : { token })
        t.equal(response.statusCode, 200, response.body)
        return response.json().items as Array<{ status: string, sessionId: string }>
      }
      t.same(await list('active'), [], 'nothing open')
      const ended = await list('ended')
      t.ok(ended.length >= 8, `${ended.length} past sessions and refusals`)
      t.ok(new Set(ended.map((s) => s.status)).has('revoked') && ended.some((s) => s.status === 'expired')
        && ended.some((s) => s.status === 'denied'))
      problem(t, await api.call('GET', `/v1/orgs/${orgId}/impersonations`, { token: c.sam.token }), 404, 'org.not_found')
      const admin = await register(api, 'platform-admin@ledgerline.example')
      await changeUser(api.runtime.identity, systemCommand('test'), admin.userId,
        { type: 'SetStaffFlags', data: { platformAdmin: true, platformSupport: false } })
      t.equal((await list('all', admin.token)).length, (await list('all')).length, 'platform admins read it too; support staff do not')
      const reads = await auditActions(c, 'action=audit.record.sensitive_read')
      t.ok(reads.some((row) => row.actorId === admin.userId && row.diff?.action?.after === 'impersonation:read'),
        'each read of the sessions is in the audit log')
      problem(t, await api.call('GET', `/v1/orgs/${orgId}/impersonations`, { token: c.mia.token }), 403, 'auth.forbidden')
      const page = await api.call('GET', `/v1/orgs/${orgId}/impersonations?limit=2`)
      const next = await api.call('GET', `/v1/orgs/${orgId}/impersonations?limit=2&cursor=${page.json().nextCursor as string}`)
      t.equal(next.statusCode, 200, next.body)
      t.notSame(next.json().items[0].sessionId, page.json().items[0].sessionId)
    })
  })
})
