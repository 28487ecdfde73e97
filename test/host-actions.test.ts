/**
 * The host application's own actions (PERMISSIONS_FILE): listed by
 * GET /v1/permissions, grantable in custom roles with conditions, decided by
 * authz/check, held by built-in roles as declared; a bad file stops the
 * configuration with a message naming the entry.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { createRole } from '../src/application/identity/commands.ts'
import { ConfigError, loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { organizationDeciderFor } from '../src/domain/identity/organization.ts'
import { isCritical } from '../src/domain/impersonation/critical.ts'
import { LEDGERLINE_CATALOGUE, catalogueOf } from '../src/domain/rbac/permissions.ts'
import { buildApp } from '../src/http/app.ts'
import { rbacProjection } from '../src/projections/rbac/projection.ts'
import { openRuntime } from '../src/runtime.ts'
import { openTestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem, register } from './helpers/http.ts'
import { joinOrg } from './helpers/invitations.ts'

const dir = mkdtempSync(join(tmpdir(), 'ledgerline-permissions-'))
const file = (name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const HOST_YAML = `
actions:
  - action: invoice:read
    description: see invoices
    builtInRoles: [member, viewer]
  - action: invoice:update
    description: edit an invoice
    builtInRoles: [member]
  - action: invoice:void
    description: void an invoice
    sensitive: true
  - action: payout:approve
    description: approve a payout to a supplier
    ownerOnly: true
`

t.test('PERMISSIONS_FILE: JSON or YAML, strictly validated', async (t) => {
  t.same(loadConfig({ PERMISSIONS_FILE: file('host.yaml', HOST_YAML) }).hostActions.map((a) => a.action),
    ['invoice:read', 'invoice:update', 'invoice:void', 'payout:approve'])
  t.same(loadConfig({ PERMISSIONS_FILE: file('host.json', JSON.stringify({ actions: [{ action: 'report:read',
    description: 'read reports' }] })) }).hostActions, [{ action: 'report:read', description: 'read reports' }])
  t.same(loadConfig({}).hostActions, [], 'none by default')
  const refused = (text: string, name: string, message: RegExp): void => {
    let error: unknown
    try {
      loadConfig({ PERMISSIONS_FILE: file(name, text) })
    } catch (thrown) {
      error = thrown
    }
    t.ok(error instanceof ConfigError, `${name} is refused`)
    t.match((error as Error | undefined)?.message, message)
  }
  refused('{ "actions": [ { "action": "Invoice Update", "description": "x" } ] }', 'bad-name.json', /actions\.0\.action: <resource>:<verb>/)
  refused('{ "actions": [ { "action": "invoice:update" } ] }', 'no-description.json', /actions\.0\.description/)
  refused('{ "actions": [ { "action": "invoice:update", "description": "x", "builtInRoles": ["owner"] } ] }', 'bad-role.json',
    /builtInRoles/)
  refused('{ "actions": [ { "action": "invoice:update", "description": "x", "grantToEveryone": true } ] }', 'unknown-key.json',
    /grantToEveryone/)
  refused('actions: [', 'broken.yaml', /not valid YAML/)
  refused('{', 'broken.json', /not valid JSON/)
  t.throws(() => loadConfig({ PERMISSIONS_FILE: join(dir, 'missing.json') }), /cannot read/)

  t.throws(() => catalogueOf([{ action: 'member:promote', description: 'x' }]), /the resource member is Ledgerline's own/)
  const twice = [{ action: 'invoice:read', description: 'x' }, { action: 'invoice:read', description: 'y' }]
  t.throws(() => catalogueOf(twice), /declared twice/)
  const malformed = 'host action 0 ("Invoice Read") must read <resource>:<verb> in lower case'
  t.throws(() => catalogueOf([{ action: 'Invoice Read', description: 'x' }]), { message: malformed })
})

t.test('host actions end to end: catalogue, built-in roles, conditional custom roles, authz/check, escalation', async (t) => {
  const permissionsFile = file('e2e.yaml', HOST_YAML)
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql, { PERMISSIONS_FILE: permissionsFile })
    const { orgId } = api.owner

    const catalogue = (await api.call('GET', '/v1/permissions')).json()
    t.match(catalogue.actions.find((a: { action: string }) => a.action === 'payout:approve'), { sensitive: true, ownerOnly: true })
    t.ok(catalogue.actions.some((a: { action: string }) => a.action === 'org:read'), 'Ledgerline\'s actions stay')
    const roles = Object.fromEntries(catalogue.builtInRoles.map((r: { roleId: string, actions: string[] }) => [r.roleId, r.actions]))
    t.ok(roles.owner.includes('payout:approve') && roles.owner.includes('invoice:void'), 'owners hold every host action')
    t.ok(roles.admin.includes('invoice:void') && !roles.admin.includes('payout:approve'), 'admins hold all but owner-only ones')
    t.ok(roles.member.includes('invoice:update') && !roles.member.includes('invoice:void'), 'members hold what the file gives them')
    t.ok(roles.viewer.includes('invoice:read') && !roles.viewer.includes('invoice:update'))

    const clerk = await register(api, 'clerk@a.example')
    const admin = await register(api, 'admin@a.example')
    await joinOrg(api, orgId, clerk, ['viewer'])
    await joinOrg(api, orgId, admin, ['admin'])
    // "May edit invoices under 1,000 EUR that they created, from the office network."
    const created = await api.call('POST', `/v1/orgs/${orgId}/roles`, { body: { name: 'Invoice clerk', grants: [
      { actions: ['invoice:update'], resource: 'invoice', effect: 'allow', when: { and: [
        { lt: [{ ref: 'resource.amount' }, 1000] },
        { eq: [{ ref: 'resource.currency' }, 'EUR'] },
        { eq: [{ ref: 'resource.createdBy' }, { ref: 'principal.id' }] },
        { ipInCidr: [{ ref: 'context.ip' }, '10.0.0.0/8'] }
      ] } },
      { actions: ['invoice:*'], resource: 'invoice/locked-*', effect: 'deny' }
    ] } })
    t.equal(created.statusCode, 201, created.body)
    const assigned = await api.call('PUT', `/v1/orgs/${orgId}/members/${clerk.userId}/roles/${created.json().roleId}`)
    t.equal(assigned.statusCode, 200, assigned.body)

    const invoice = (id: string, amount: number, createdBy = clerk.userId) => ({ type: 'invoice', id, amount, currency: 'EUR', createdBy })
    const office = { ip: '10.1.2.3' }
    const checks = [
      { userId: clerk.userId, action: 'invoice:update', resource: invoice('inv-1', 400), context: office },
      { userId: clerk.userId, action: 'invoice:update', resource: invoice('inv-2', 4000), context: office },
      { userId: clerk.userId, action: 'invoice:update', resource: invoice('inv-3', 400, 'someone-else'), context: office },
      { userId: clerk.userId, action: 'invoice:update', resource: invoice('inv-4', 400), context: { ip: '203.0.113.9' } },
      { userId: clerk.userId, action: 'invoice:update', resource: invoice('locked-5', 400), context: office },
      { userId: clerk.userId, action: 'invoice:read', resource: invoice('inv-6', 4000) },
      { userId: clerk.userId, action: 'invoice:void', resource: invoice('inv-7', 1) },
      { userId: admin.userId, action: 'invoice:void', resource: invoice('inv-8', 1) },
      { userId: admin.userId, action: 'payout:approve', resource: { type: 'payout', id: 'p-1' } }
    ]
    const checked = await api.call('POST', `/v1/orgs/${orgId}/authz/check`,
      { body: { checks }, headers: { 'x-consistent-with': assigned.json().position } })
    t.equal(checked.statusCode, 200, checked.body)
    t.same(checked.json().results.map((r: { allowed: boolean }) => r.allowed), [true, false, false, false, false, true, false, true, false])
    const why = await api.call('POST', `/v1/orgs/${orgId}/authz/explain`, { body: checks[1] })
    t.match(why.json(), { allowed: false, failedConditions: [{ roleId: created.json().roleId, clause: 'and.0.lt' }] })

    problem(t, await api.call('POST', `/v1/orgs/${orgId}/roles`, { token: admin.token,
      body: { name: 'Payouts', grants: [{ actions: ['payout:approve'], resource: '*', effect: 'allow' }] } }), 403, 'rbac.escalation')
    t.equal((await api.call('POST', `/v1/orgs/${orgId}/roles`, { token: admin.token,
      body: { name: 'Voids', grants: [{ actions: ['invoice:void'], resource: '*', effect: 'allow' }] } })).statusCode, 201,
        'admins delegate what they hold')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/roles`, { body: { name: 'Typo',
      grants: [{ actions: ['invoice:updat'], resource: '*', effect: 'allow' }] } }), 400, 'rbac.unknown_action')
  })
})

t.test('catalogues are values: two in one process do not affect each other', async (t) => {
  const host = catalogueOf([{ action: 'invoice:update', description: 'edit an invoice', builtInRoles: ['member'] }])
  t.ok(Object.isFrozen(host) && Object.isFrozen(host.actions), 'a catalogue cannot be changed')
  t.ok(host.builtInRoleGrants.member.includes('invoice:update'))
  t.notOk(LEDGERLINE_CATALOGUE.builtInRoleGrants.member.includes('invoice:update'), 'making one changed nothing in the other')
  t.equal(LEDGERLINE_CATALOGUE.definition('invoice:update'), undefined)
  t.not(rbacProjection(host).version, rbacProjection(LEDGERLINE_CATALOGUE).version)

  const created = [
    { type: 'org.organization.created' as const, data: { orgId: 'acme', name: 'Acme', plan: 'free' as const, ownerId: 'ann' } },
    { type: 'org.member.added' as const, data: { userId: 'ann', roles: ['owner' as const] } },
    { type: 'org.member.added' as const, data: { userId: 'cat', roles: ['member' as const] } }
  ]
  const [withHost, without] = [organizationDeciderFor(host), organizationDeciderFor(LEDGERLINE_CATALOGUE)]
  const state = created.reduce(withHost.evolve, withHost.initialState())
  const context = { now: new Date('2026-01-01T00:00:00Z'), actor: { type: 'user' as const, id: 'ann' } }
  const grants = [{ actions: ['invoice:update'], resource: '*', effect: 'allow' as const }]
  const command = { type: 'CreateRole' as const, data: { roleId: 'role_clerk', name: 'Clerk', grants } }
  t.equal(withHost.decide(command, state, context).length, 1, 'the host\'s catalogue has the action')
  const unknown = { code: 'rbac.unknown_action' }
  t.throws(() => without.decide(command, state, context), unknown, 'Ledgerline\'s alone does not, in the same process')
  t.equal(withHost.decide(command, state, context).length, 1, 'and deciding over one did not change the other')
  if (state.status !== 'active') throw new Error('the organization should be active')
  const sensitive = catalogueOf([{ action: 'invoice:update', description: 'edit an invoice', sensitive: true, builtInRoles: ['member'] }])
  t.equal(isCritical(sensitive, state, 'cat'), true, 'a member holding a sensitive host action is critical under that catalogue')
  t.equal(isCritical(host, state, 'cat'), false, 'and not under one where it is not sensitive')
})

t.test('two runtimes in one process, with and without host actions, each answer from their own catalogue', async (t) => {
  const permissionsFile = file('two.yaml', HOST_YAML)
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql, { PERMISSIONS_FILE: permissionsFile })
    // Opened second, without PERMISSIONS_FILE: with module state this would have taken the host's actions from the first.
    const plain = await openRuntime(loadConfig({ NODE_ENV: 'test' }), pino({ level: 'silent' }), { sql })
    t.teardown(() => plain.close())
    const plainApp = await buildApp(plain)
    t.teardown(() => plainApp.close())
    const listed = async (inject: typeof plainApp.inject): Promise<string[]> => {
      const response = await inject({ method: 'GET', url: '/v1/permissions', headers: { authorization: `Bearer ${api.owner.token}` } })
      return response.json().actions.map((a: { action: string }) => a.action)
    }
    const [hosted, own] = [await listed(api.app.inject.bind(api.app)), await listed(plainApp.inject.bind(plainApp))]
    t.ok(hosted.includes('payout:approve'), 'the first lists the host\'s actions')
    t.notOk(own.some((action) => action.startsWith('invoice:') || action.startsWith('payout:')), 'the second does not')
    t.same(own, LEDGERLINE_CATALOGUE.actions.map((d) => d.action))
    t.notOk(plain.catalogue.builtInRoleGrants.member.includes('invoice:update'))
    t.ok(api.runtime.catalogue.builtInRoleGrants.member.includes('invoice:update'))

    const grants = [{ actions: ['invoice:update'], resource: '*', effect: 'allow' as const }]
    const { orgId, userId } = api.owner
    const asOwner = { ...systemCommand('two-runtimes'), actor: { type: 'user' as const, id: userId } }
    const refused = createRole(plain.identity, asOwner, orgId, { name: 'Clerk', grants })
    await t.rejects(refused, { code: 'rbac.unknown_action' }, 'refused by the second')
    const made = await api.call('POST', `/v1/orgs/${orgId}/roles`, { body: { name: 'Clerk', grants } })
    t.equal(made.statusCode, 201, made.body)
    const snapshot = await plain.identity.policies.snapshotOf(orgId)
    t.equal(snapshot.isCritical(userId), true)
    const aMember = { id: 'x', roles: ['member'] }
    t.equal(snapshot.policy.can(aMember, 'invoice:update', { type: 'invoice' }), false, 'the second\'s members hold no host action')
    const hostSnapshot = await api.runtime.identity.policies.snapshotOf(orgId)
    t.equal(hostSnapshot.policy.can(aMember, 'invoice:update', { type: 'invoice' }), true, 'the first\'s do')
  })
})
