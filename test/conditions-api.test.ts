/**
 * Conditions through the API, on every database driver (issues 12.3 and
 * 13.7): a literal that reads like a reference is refused with a hint;
 * /openapi.json shows the whole grammar of a grant's `when`; IPv4-mapped
 * blocks are accepted; and authz/check and explain answer, never 500, for
 * times a condition does not document.
 */
import t from 'tap'
import { addMember, assignRole, createRole } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { GRAMMAR, type Condition } from '../src/domain/rbac/conditions.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem, register } from './helpers/http.ts'

const ref = (path: string) => ({ ref: path })
const grant = (when: unknown) => ({ actions: ['member:invite'], resource: '*', effect: 'allow', when })

/** A member holding one custom role made of `when`; returns a function that checks member:invite for them. */
async function memberUnder (api: TestApp, when: Condition, email: string) {
  const { orgId } = api.owner
  const { roleId } = await createRole(api.runtime.identity, systemCommand('test'), orgId,
    { name: email, grants: [{ actions: ['member:invite'], resource: '*', effect: 'allow', when }] })
  const member = await register(api, email)
  await addMember(api.runtime.identity, systemCommand('test'), orgId, { userId: member.userId, roles: ['viewer'] })
  const last = await assignRole(api.runtime.identity, systemCommand('test'), orgId, member.userId, roleId)
  const headers: Record<string, string> = last.position === null ? {} : { 'x-consistent-with': last.position }
  const check = (resource: Record<string, unknown>, context: Record<string, unknown> = {}) =>
    ({ userId: member.userId, action: 'member:invite', resource, context })
  return {
    check,
    checks: (checks: unknown[]) => api.call('POST', `/v1/orgs/${orgId}/authz/check`, { body: { checks }, headers }),
    explain: (body: unknown) => api.call('POST', `/v1/orgs/${orgId}/authz/explain`, { body, headers })
  }
}

t.test('a literal string that reads like a reference is refused, with the reference to write instead', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const create = (when: unknown) => api.call('POST', `/v1/orgs/${orgId}/roles`, { body: { name: 'Limits', grants: [grant(when)] } })

    const literal = await create({ lt: ['resource.amount', 1000] })
    problem(t, literal, 400, 'rbac.invalid_condition')
    t.match(literal.json().detail, /lt\.0: "resource\.amount" is a literal string.*\{"ref": "resource\.amount"\}/)
    t.match(literal.json(), { errors: [{ path: 'lt.0' }] })
    const nested = await create({ and: [{ eq: [ref('context.mfa'), true] },
      { not: { in: [ref('resource.region'), ['eu', 'context.region']] } }] })
    problem(t, nested, 400, 'rbac.invalid_condition')
    t.match(nested.json(), { errors: [{ path: 'and.1.not.in.1' }] }, 'found inside and, not and a literal list')
    const unknown = await create({ eq: ['principal.email', 'a@b.example'] })
    problem(t, unknown, 400, 'rbac.invalid_condition')
    t.match(unknown.json().detail, /"principal\.email" reads like a reference/)
    problem(t, await create({ timeBetween: ['context.time', '08:00', '18:00'] }), 400, 'rbac.invalid_condition')

    const created = await create({ lt: [ref('resource.amount'), 1000] })
    t.equal(created.statusCode, 201, created.body)
    const { roleId } = created.json()
    const put = (when: unknown) => api.call('PUT', `/v1/orgs/${orgId}/roles/${roleId}/grants`, { body: { grants: [grant(when)] } })
    const replaced = await put({ gte: ['context.time', 'resource.createdAt'] })
    problem(t, replaced, 400, 'rbac.invalid_condition')
    t.equal(replaced.json().errors.length, 2, 'both operands named')
    t.equal((await put({ startsWith: [ref('resource.path'), 'resources/'] })).statusCode, 200,
      'text that is not a reference is a literal like any other')
    t.equal((await put({ in: [ref('resource.region'), ['eu', 'uk']] })).statusCode, 200)
  })
})

t.test('/openapi.json shows the grammar of a grant\'s when: every operator and its operands', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const document = (await api.call('GET', '/openapi.json', { token: null })).json()
    const schemas = document.components.schemas as Record<string, { anyOf?: Array<{ properties: Record<string, unknown>,
      description?: string }> }>
    const resolve = (schema: { $ref?: string }) => schema.$ref === undefined ? schema : schemas[schema.$ref.replace('#/components/schemas/',
      '')]!
    const bodies = [document.paths['/v1/orgs/{orgId}/roles'].post, document.paths['/v1/orgs/{orgId}/roles/{roleId}/grants'].put]
      .map((operation) => operation.requestBody.content['application/json'].schema.properties.grants.items.properties.when)
    for (const when of bodies) {
      const condition = resolve(when) as { anyOf: Array<{ properties: Record<string,
        { $ref?: string, prefixItems?: unknown[], anyOf?: unknown[] }>, description: string }> }
      const operators = condition.anyOf.flatMap((branch) => Object.keys(branch.properties))
      t.same(operators.sort(), Object.keys(GRAMMAR).sort(), 'every operator, nothing else')
      for (const branch of condition.anyOf) {
        const [op] = Object.keys(branch.properties) as Array<keyof typeof GRAMMAR>
        t.ok(branch.description.includes(GRAMMAR[op!].meaning), `${op} says what it means`)
        t.ok(Object.keys(branch.properties[op!]!).length > 0, `${op} has an operand schema`)
      }
      const eq = condition.anyOf.find((branch) => 'eq' in branch.properties)!.properties.eq as { prefixItems: Array<{ $ref: string }> }
      const operand = resolve(eq.prefixItems[0]!) as { anyOf: Array<{ $ref?: string, type?: string }> }
      t.ok(operand.anyOf.some((shape) => shape.$ref !== undefined && JSON.stringify(resolve(shape)).includes('principal')),
        'an operand may be a reference, whose pattern is shown')
    }
  })
})

t.test('IPv4-mapped IPv6 blocks are accepted and decide for both forms of an address', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const created = await api.call('POST', `/v1/orgs/${api.owner.orgId}/roles`,
      { body: { name: 'Mapped', grants: [grant({ ipInCidr: [ref('context.ip'), '::ffff:10.0.0.0/104'] }),
        grant({ ipInCidr: [ref('context.ip'), '::ffff:0:0/96'] })] } })
    t.equal(created.statusCode, 201, created.body)
    const member = await memberUnder(api, { ipInCidr: [ref('context.ip'), '::ffff:10.0.0.0/104'] }, 'mapped@a.example')
    const decided = await member.checks(['10.1.2.3', '::ffff:10.1.2.3', '11.1.2.3', '2001:db8::1'].map((ip) =>
      member.check({ type: 'member' }, { ip })))
    t.same(decided.json(), { results: [{ allowed: true }, { allowed: true }, { allowed: false }, { allowed: false }] })
  })
})

t.test('times a condition does not document are false: no 500, and one such check does not fail its batch', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const zoned = await memberUnder(api, { timeBetween: [ref('context.time'), '00:00', '23:59', 'Europe/Paris'] }, 'zoned@a.example')
    const huge = zoned.check({ type: 'member' }, { time: Number.MAX_SAFE_INTEGER })
    const fine = zoned.check({ type: 'member' }, { time: '2026-03-02T08:30:00Z' })
    const one = await zoned.checks([huge])
    t.equal(one.statusCode, 200, one.body)
    t.same(one.json(), { results: [{ allowed: false }] })
    const batch = await zoned.checks([...Array.from({ length: 99 }, () => fine), huge])
    t.equal(batch.statusCode, 200, batch.body)
    const results = batch.json().results as Array<{ allowed: boolean }>
    t.equal(results.length, 100)
    t.same([results.filter((r) => r.allowed).length, results[99]], [99, { allowed: false }], 'the 99 in range allowed, the last not')
    const explained = await zoned.explain(huge)
    t.equal(explained.statusCode, 200, explained.body)
    t.match(explained.json(), { allowed: false, failedConditions: [{ clause: 'timeBetween' }] })

    const onId = await memberUnder(api, { timeBetween: [ref('resource.id'), '00:00', '23:59'] }, 'onid@a.example')
    const ids = await onId.checks(['INV-1', 'eu-west-2', '::1', '10.1.2', '2026-03-02T08:30:00Z'].map((id) =>
      onId.check({ type: 'member', id })))
    t.same(ids.json(), { results: [{ allowed: false }, { allowed: false }, { allowed: false }, { allowed: false }, { allowed: true }] },
      'only a documented time is one')
  })
})
