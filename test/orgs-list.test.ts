/**
 * GET /v1/orgs: the caller's organizations by id, a page at a time, with the
 * caller's roles in each; nobody else's; an impersonation sees only its
 * session's organization; X-Consistent-With shows a new organization at once.
 * Pages at 0, 1, the page size ±1 and 120 organizations, plus a property over
 * random counts and page sizes.
 */
import fc from 'fast-check'
import t from 'tap'
import { addMember, createOrganization, createToken, registerUser } from '../src/application/identity/commands.ts'
import { requestImpersonation } from '../src/application/impersonation/commands.ts'
import { systemCommand, type CommandMetadata } from '../src/domain/envelope.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { settled } from './helpers/assertions.ts'

interface Item { orgId: string, name: string, plan: string, roles: string[] }
interface Page { items: Item[], nextCursor: string | null }

const as = (id: string): CommandMetadata => ({ ...systemCommand('orgs-list-test'), actor: { type: 'user', id } })

/** Every page from the first, following nextCursor. */
async function allPages (api: TestApp, token: string, limit: number): Promise<{ items: Item[], pages: number }> {
  const items: Item[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const response = await api.call('GET', `/v1/orgs?limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`, { token })
    if (response.statusCode !== 200) throw new Error(`GET /v1/orgs answered ${response.statusCode}: ${response.body}`)
    const page = response.json<Page>()
    if (page.items.length > limit) throw new Error('a page longer than its limit')
    items.push(...page.items)
    cursor = page.nextCursor
    pages++
  } while (cursor !== null)
  return { items, pages }
}

t.test('GET /v1/orgs lists the caller\'s organizations, their plan and the caller\'s roles, and nobody else\'s', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const identity = api.runtime.identity
    const lone = await registerUser(identity, systemCommand('orgs-list-test'), { email: 'lone@a.example', displayName: 'Lone' })
    const other = await api.newOwner('other@b.example', 'Org B')
    await addMember(identity, as(other.userId), other.orgId, { userId: api.owner.userId, roles: ['viewer'] })
    await settled(api.runtime)

    const mine = (await api.call('GET', '/v1/orgs')).json<Page>()
    t.same(mine, {
      items: [
        { orgId: api.owner.orgId, name: 'Org A', plan: 'free', roles: ['owner'] },
        { orgId: other.orgId, name: 'Org B', plan: 'free', roles: ['viewer'] }
      ].sort((a, b) => (a.orgId < b.orgId ? -1 : 1)),
      nextCursor: null
    }, 'both organizations, by id, with the caller\'s roles in each')
    const theirs = (await api.call('GET', '/v1/orgs', { token: other.token })).json<Page>()
    t.same(theirs.items.map((item) => item.orgId), [other.orgId], 'the other owner sees only theirs')

    const { token: loneToken } = await createToken(identity, as(lone.userId), lone.userId, { name: 't', kind: 'api' })
    t.same((await api.call('GET', '/v1/orgs', { token: loneToken })).json(), { items: [], nextCursor: null },
      'no organization: an empty page')

    const one = (await api.call('GET', '/v1/orgs?limit=1')).json<Page>()
    t.equal(one.items.length, 1)
    t.type(one.nextCursor, 'string')
    const rest = (await api.call('GET', `/v1/orgs?limit=1&cursor=${one.nextCursor!}`)).json<Page>()
    t.same([...one.items, ...rest.items], mine.items, 'two pages of one')
    t.equal(rest.nextCursor, null)

    for (const [query, code] of [['limit=0', 'http.validation'], ['limit=201', 'http.validation'], ['cursor=nope', 'http.invalid_cursor'],
      ['cursor=WyJtZW1iZXJzLjEiLHsidXNlcklkIjoieCJ9XQ', 'http.invalid_cursor'], ['x=1', 'http.validation']]) {
      const response = await api.call('GET', `/v1/orgs?${query}`)
      t.equal(response.statusCode, 400, `${query}: 400`)
      t.match(response.headers['content-type'], /application\/problem\+json/)
      t.equal(response.json<{ code: string }>().code, code, `${query}: ${code}`)
    }
    t.equal((await api.call('GET', '/v1/orgs', { token: null })).statusCode, 401, 'a token is needed')
  })
})

t.test('GET /v1/orgs pages through 0, 1, the page size ±1 and 120 organizations', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const identity = api.runtime.identity
    // Owners with 0 (besides their bootstrap one: so 1), limit-1, limit and limit+1 organizations, limit 5; then 120.
    const limit = 5
    for (const extra of [0, limit - 2, limit - 1, limit]) {
      const owner = await api.newOwner(`owner${extra}@c.example`)
      for (let i = 0; i < extra; i++) await createOrganization(identity, as(owner.userId), owner.userId, { name: `Org ${extra}.${i}` })
      await settled(api.runtime)
      const { items, pages } = await allPages(api, owner.token, limit)
      t.equal(items.length, extra + 1, `${extra + 1} organizations listed`)
      t.equal(pages, Math.ceil((extra + 1) / limit), `in ${pages} page(s): a full last page has no next cursor`)
      t.same(items.map((item) => item.orgId), items.map((item) => item.orgId).sort(), 'by id')
    }
    const many = await api.newOwner('many@c.example')
    for (let i = 0; i < 119; i++) await createOrganization(identity, as(many.userId), many.userId, { name: `Many ${i}` })
    await settled(api.runtime)
    const { items, pages } = await allPages(api, many.token, 50)
    t.equal(items.length, 120)
    t.equal(pages, 3)
    t.equal(new Set(items.map((item) => item.orgId)).size, 120, 'no organization twice')
    t.ok(items.every((item) => item.roles.length === 1 && item.roles[0] === 'owner' && item.plan === 'free'))
    const names = new Set(items.map((item) => item.name))
    t.ok(names.has('Many 0') && names.has('Many 118'), 'every one of them')

    // Any page size reads the same list.
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 130 }), async (size) => {
      const paged = await allPages(api, many.token, size)
      t.equal(paged.pages, Math.ceil(120 / size))
      return JSON.stringify(paged.items) === JSON.stringify(items)
    }), { numRuns: 15 })
  })
})

t.test('GET /v1/orgs honours X-Consistent-With, and an impersonation sees only its session\'s organization', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const created = await api.call('POST', '/v1/orgs', { body: { name: 'Fresh' } })
    t.equal(created.statusCode, 201)
    const { orgId, position } = created.json<{ orgId: string, position: string }>()
    const listed = (await api.call('GET', '/v1/orgs', { headers: { 'x-consistent-with': position } })).json<Page>()
    t.ok(listed.items.some((item) => item.orgId === orgId && item.name === 'Fresh' && item.roles[0] === 'owner'),
      'the new organization, read after its position')

    const identity = api.runtime.identity
    const admin = await registerUser(identity, systemCommand('orgs-list-test'), { email: 'admin@d.example', displayName: 'admin' })
    const member = await registerUser(identity, systemCommand('orgs-list-test'), { email: 'member@d.example', displayName: 'member' })
    await addMember(identity, as(api.owner.userId), api.owner.orgId, { userId: admin.userId, roles: ['admin'] })
    await addMember(identity, as(api.owner.userId), api.owner.orgId, { userId: member.userId, roles: ['member'] })
    // The member belongs to a second organization too: the impersonation must not show it.
    await addMember(identity, as(api.owner.userId), orgId, { userId: member.userId, roles: ['viewer'] })
    await settled(api.runtime)
    const { token } = await requestImpersonation(api.runtime.impersonation, as(admin.userId), api.owner.orgId,
      { userId: admin.userId, impersonating: false, via: 'member' },
      { targetUserId: member.userId, reason: 'checking what the member sees' })
    const seen = await api.call('GET', '/v1/orgs', { token: token! })
    t.equal(seen.statusCode, 200, seen.body)
    t.same(seen.json<Page>().items.map((item) => [item.orgId, item.roles]), [[api.owner.orgId, ['member']]],
      'only the session\'s organization, with the member\'s roles')
  })
})
