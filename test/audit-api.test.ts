/**
 * The audit log over HTTP, on every database driver: what owners and members
 * do shows up with actor, target, diff and request facts, read-your-writes
 * through X-Consistent-With; filters and cursors work through the query
 * string; audit:read is required, and another tenant's log is 404.
 */
import t from 'tap'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { openTestApp } from './helpers/app.ts'
import { problem, register } from './helpers/http.ts'
import { joinOrg } from './helpers/invitations.ts'

interface Item { seq: number, action: string, actorId: string, actorLabel: string | null, targetType: string | null,
  targetId: string | null, diff: unknown, ip: string | null, traceId: string | null, position: string }

t.test('the audit log shows what was done, by whom, to what; filtered and paged through the API', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId, userId: ownerId, email } = api.owner
    const url = `/v1/orgs/${orgId}/audit-events`

    const renamed = await api.call('PATCH', `/v1/orgs/${orgId}`,
      { body: { name: 'Acme Renamed' }, headers: { 'user-agent': 'audit-test/1' } })
    t.equal(renamed.statusCode, 200, renamed.body)
    const renameTrace = /^00-([0-9a-f]{32})-/.exec(String(renamed.headers.traceparent))?.[1]
    const bob = await register(api, 'bob@a.example')
    const added = await joinOrg(api, orgId, bob, ['viewer'])
    const consistent = { 'x-consistent-with': added.position }
    const get = async (query: string, token?: string): Promise<{ items: Item[], nextCursor: string | null }> => {
      const response = await api.call('GET', `${url}${query}`, { headers: consistent, ...(token === undefined ? {} : { token }) })
      t.equal(response.statusCode, 200, `GET ${query}: ${response.body.slice(0, 300)}`)
      return response.json()
    }

    await t.test('the rename and the new member are there, newest first, with actor, target, diff and request facts', async (t) => {
      const { items } = await get('')
      // Bob joined by accepting the owner's invitation: the acceptance and the membership are his.
      t.same(items.slice(0, 4).map((item) => item.action),
        ['org.member.added', 'org.invitation.accepted', 'org.invitation.created', 'org.organization.renamed'])
      t.match(items[0],
        { actorId: bob.userId, targetType: 'member', targetId: bob.userId, diff: { roles: { before: null, after: ['viewer'] } } })
      t.match(items[2],
        { actorId: ownerId, actorLabel: email, targetType: 'invitation',
          diff: { email: { after: 'bob@a.example' }, roles: { after: ['viewer'] } } })
      t.match(items[3], {
        actorType: 'user', actorId: ownerId, actorLabel: email, targetType: 'organization', targetId: orgId,
        diff: { name: { after: 'Acme Renamed' } }, ip: '127.0.0.1', userAgent: 'audit-test/1', traceId: renameTrace,
        position: renamed.json().position
      })
      t.ok(items.every((item, i) => i === 0 || item.seq < items[i - 1]!.seq), 'in descending seq')
      t.equal(items.at(-1)?.action, 'org.organization.created', 'back to the organization\'s creation')
    })

    await t.test('filters narrow the log', async (t) => {
      t.same((await get('?action=org.member.added')).items.map((item) => item.targetId), [bob.userId, ownerId])
      t.ok((await get('?action=org.*')).items.every((item) => item.action.startsWith('org.')))
      t.same((await get('?action=rbac.*')).items, [], 'no RBAC event yet')
      t.same((await get(`?targetType=organization&targetId=${orgId}&actorId=${ownerId}`)).items.map((item) => item.action),
        ['org.organization.renamed', 'org.organization.created'])
      t.same((await get(`?traceId=${renameTrace}`)).items.map((item) => item.action), ['org.organization.renamed'])
      t.same((await get('?ip=127.0.0.1&sort=asc&action=org.*')).items.map((item) => item.action),
        ['org.organization.renamed', 'org.invitation.created', 'org.invitation.accepted', 'org.member.added'])
      t.same((await get(`?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).items, [], 'nothing from the future')
      t.same((await get(`?to=${encodeURIComponent('2000-01-01T00:00:00Z')}`)).items, [], 'nothing before 2000')
    })

    await t.test('a cursor walks the whole log a row at a time, in either order', async (t) => {
      // Searches are logged (at their first page): the walk keeps to org.* so that its own searches stay out of it.
      const all = (await get('?sort=asc&action=org.*')).items.map((item) => item.seq)
      for (const sort of ['asc', 'desc']) {
        const seen: number[] = []
        let cursor: string | null = null
        do {
          const page: { items: Item[], nextCursor: string | null } =
            await get(`?sort=${sort}&action=org.*&limit=1${cursor === null ? '' : `&cursor=${cursor}`}`)
          seen.push(...page.items.map((item) => item.seq))
          cursor = page.nextCursor
        } while (cursor !== null && seen.length <= all.length)
        t.same(seen, sort === 'asc' ? all : [...all].reverse(), sort)
      }
    })

    await t.test('bad input is a 400 problem', async (t) => {
      problem(t, await api.call('GET', `${url}?cursor=bm9wZQ`), 400, 'http.invalid_cursor')
      const { nextCursor } = await get('?limit=1&sort=asc')
      problem(t, await api.call('GET', `${url}?cursor=${nextCursor}`), 400, 'http.invalid_cursor')
      for (const query of ['limit=0', 'limit=501', 'limit=ten', 'sort=up', 'action=org.%25', 'action=*', 'from=yesterday',
        'from=2024-01-01T00:00:00',
        'from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z', 'ip=not-an-ip', 'actorId=', 'unknown=1']) {
        problem(t, await api.call('GET', `${url}?${query}`), 400, 'http.validation')
      }
      t.equal((await api.call('GET', `${url}?limit=500`)).statusCode, 200)
    })

    await t.test('audit:read is required, and another organization\'s log is not found', async (t) => {
      problem(t, await api.call('GET', url, { token: bob.token, headers: consistent }), 403, 'auth.forbidden')
      const other = await api.newOwner('eve@b.example', 'Org B')
      problem(t, await api.call('GET', url, { token: other.token, headers: consistent }), 404, 'org.not_found')
      await settled(api.runtime)
      const theirs = await api.call('GET', `/v1/orgs/${other.orgId}/audit-events`, { token: other.token })
      t.equal(theirs.statusCode, 200, theirs.body)
      const items = theirs.json().items as Item[]
      t.equal(items.at(-1)?.action, 'org.organization.created', 'their own log')
      t.ok(items.every((item) => item.targetId !== bob.userId && item.actorId !== ownerId), 'holds nothing of ours')
    })
  })
})
