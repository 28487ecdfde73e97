/**
 * The dashboard's roles page in Debian's chromium against a real listening
 * server, on PGlite and on PostgreSQL: the list at 0, 1 and a few dozen
 * custom roles; a role whose condition (and, or, not) is built in the
 * builder and stored as that tree; a test case that passes and one that
 * fails with the clause that failed; a stored tree read back into the builder
 * and saved unchanged; the API's escalation and in-use refusals shown with
 * their detail; editing and deleting; who can do an action; and the page at 390 px.
 */
import t from 'tap'
import { openTestApp } from './helpers/app.ts'
import {
  browserTest, listening, openBrowser, ownerWithOrg, screenshot, screenshotsFor, seriousViolations, signIn, waitForCount
} from './helpers/browser.ts'
import { forEachDatabase } from './helpers/databases.ts'
import {
  assign, createRole, field, fillClause, holdsAccess, listedNames, member, newRole, overflow, readClause, roleNamed, rolesOf
} from './helpers/roles-browser.ts'

/** A few dozen custom roles, on top of the ones the tests before made. */
const BULK = 24
const ref = (path: string) => ({ ref: path })
/** What the builder steps below write: under 1,000, and in euros or not in the US. */
const BUILT = { and: [{ lt: [ref('resource.amount'), 1000] },
  { or: [{ eq: [ref('resource.currency'), 'EUR'] }, { not: { eq: [ref('resource.region'), 'us'] } }] }] }
/** A tree the builder never wrote: every kind of operand and operator, a double NOT, a string that reads as a number. */
const STORED = { or: [
  { not: { not: { exists: ref('resource.approvedBy') } } },
  { and: [{ in: ['eu', ref('resource.regions')] }, { eq: [ref('resource.code'), '1000'] },
    { nin: [ref('resource.status'), ['void', 7]] }] },
  { timeBetween: [ref('context.time'), '09:00', '18:00', 'Europe/Paris'] }, { timeBetween: [ref('context.time'), '22:00', '06:00'] },
  { ipInCidr: [ref('context.ip'), '10.0.0.0/8'] }, { eq: [ref('context.mfa'), true] }, { gte: [ref('resource.a.b'), 2.5] },
  { ne: [ref('resource.note'), null] }, { startsWith: [ref('resource.costCenter'), 'EU-'] }
] }

t.test('the roles page in a browser', async (t) => {
  const browser = await openBrowser(t)
  await forEachDatabase(t, async (t, { sql, driver }) => {
    const shots = screenshotsFor(driver)
    // Four sign-ups and seven sign-ins from one address: more than the default budget of ten a minute.
    const api = await openTestApp(t, sql, { LOGIN_RATE_LIMIT_PER_MINUTE: '100' })
    const origin = await listening(api)
    const test = (name: string, fn: Parameters<typeof browserTest>[4]) => browserTest(t, name, browser, origin, fn)
    const owner = await ownerWithOrg(api, 'olga@roles.example', 'Roles Co')
    const adminId = await member(api, owner, 'adam@roles.example', 'admin')
    const miaId = await member(api, owner, 'mia@roles.example', 'member')
    await member(api, owner, 'vic@roles.example', 'viewer')
    const rolesPath = `/app/orgs/${owner.orgId}/roles`

    await test('with no custom role the list shows the four built-in ones and says there is none', async (t, open) => {
      const { page } = await open()
      await signIn(page, 'olga@roles.example', `/app/orgs/${owner.orgId}/members`)
      await page.getByRole('link', { name: 'Roles' }).click()
      await page.getByRole('heading', { name: 'Roles & permissions of Roles Co' }).waitFor()
      await waitForCount(page.getByRole('table', { name: 'Roles' }).locator('tbody tr'), 4)
      t.same(await listedNames(page), ['owner', 'admin', 'member', 'viewer'], 'the built-in roles')
      t.ok(await page.getByText('No custom roles yet.').isVisible(), 'and a word that there is no custom one')
      t.equal(await page.getByRole('button', { name: /^(Edit|Delete) / }).count(), 0, 'built-in roles cannot be edited or deleted')
    })

    await test('a role built with a nested condition is stored as that tree; one case passes, one fails on its clause', async (t, open) => {
      const { page } = await open()
      await signIn(page, 'olga@roles.example', rolesPath)
      await newRole(page, 'Small payouts', 'webhook:read', 'webhook')
      await page.getByRole('button', { name: 'Add a condition to Grant 1' }).click()
      await fillClause(page, 'Grant 1, condition 1', 'amount', 'lt', '1000')
      await page.getByRole('button', { name: 'Add a group to Grant 1, condition', exact: true }).click()
      await field(page, 'Grant 1, condition 2: group').selectOption('or')
      await fillClause(page, 'Grant 1, condition 2.1', 'currency', 'eq', 'EUR')
      await page.getByRole('button', { name: 'Add a NOT to Grant 1, condition 2', exact: true }).click()
      await fillClause(page, 'Grant 1, condition 2.2.1', 'region', 'eq', 'us')
      await screenshot(page, 'dashboard-roles-builder', shots)
      t.same(await seriousViolations(page), [], 'the role form and its builder: no serious accessibility violation (axe-core)')
      await page.getByRole('button', { name: 'Create role' }).click()
      await page.getByRole('form', { name: 'New role' }).waitFor({ state: 'detached' })
      const stored = await roleNamed(api, owner, 'Small payouts')
      t.same(stored?.grants, [{ actions: ['webhook:read'], resource: 'webhook', effect: 'allow', when: BUILT }],
        'the API stored the tree the builder shows')
      await waitForCount(page.getByRole('table', { name: 'Roles' }).locator('tbody tr'), 5)
      t.equal(await page.getByRole('status').filter({ hasText: 'built-in' }).textContent(), '4 built-in, 1 custom', 'one custom role')
      t.equal(await page.getByText('No custom roles yet.').count(), 0, 'no longer "none"')

      await page.getByRole('button', { name: 'Test Small payouts' }).click()
      await field(page, 'Case 1: attributes').fill('{"amount": 250, "currency": "EUR"}')
      await page.getByRole('button', { name: 'Add a case' }).click()
      await field(page, 'Case 2: attributes').fill('{"amount": 5000, "currency": "EUR"}')
      await page.getByRole('button', { name: 'Run the cases' }).click()
      const results = page.getByRole('list', { name: 'Test results' })
      await results.waitFor()
      t.same(await results.locator(':scope > li > b').allTextContents(), ['Case 1: passed', 'Case 2: failed'], 'one passes, one fails')
      t.equal(await page.getByRole('heading', { name: /passed/ }).textContent(), '1 passed, 1 failed', 'the count')
      t.equal(await results.getByRole('list', { name: 'Clauses that failed' }).textContent(),
        'In grant 1 of Small payouts (allow), condition 1 failed: resource.amount < 1000', 'the explanation names the clause that failed')
      t.match(await results.locator(':scope > li').nth(1).textContent(), 'Why: no grant allows it.', 'and why it was refused')
      t.match(await results.locator(':scope > li').nth(0).textContent(), 'Decided by grant 1 of Small payouts (allow).',
        'a passing case is explained too: the grant that allowed it')
      await screenshot(page, 'dashboard-roles-test', shots)
      t.same(await seriousViolations(page), [], 'the test panel: no serious accessibility violation (axe-core)')

      await page.getByRole('button', { name: 'Close' }).click()
      await page.getByRole('button', { name: 'Edit Small payouts' }).click()
      t.same(await readClause(page, 'Grant 1, condition 1'), ['amount', 'lt', '1000'], 'reopened: clause 1 reads back')
      t.equal(await field(page, 'Grant 1, condition: group').inputValue(), 'and', 'the outer group is "all of"')
      t.equal(await field(page, 'Grant 1, condition 2: group').inputValue(), 'or', 'the inner one "any of"')
      t.same(await readClause(page, 'Grant 1, condition 2.1'), ['currency', 'eq', 'EUR'], 'its first clause')
      t.same(await readClause(page, 'Grant 1, condition 2.2.1'), ['region', 'eq', 'us'], 'and the clause under the NOT')
    })

    await test('a stored tree with every operator opens in the builder and saves unchanged', async (t, open) => {
      const grants = [{ actions: ['webhook:read', 'audit:read'], resource: 'webhook/wh_1*', effect: 'allow' as const, when: STORED },
        { actions: ['webhook:manage'], resource: '*', effect: 'deny' as const }]
      await createRole(api, owner, 'Every operator', grants)
      const { page } = await open()
      await signIn(page, 'olga@roles.example', rolesPath)
      await page.getByRole('button', { name: 'Edit Every operator' }).click()
      t.equal(await field(page, 'Grant 1, condition 2.2: right value').inputValue(), '"1000"', 'a string that reads as a number is quoted')
      t.equal(await field(page, 'Grant 1, condition 3: time zone (optional)').inputValue(), 'Europe/Paris', 'the time zone reads back')
      const [put] = await Promise.all([
        page.waitForRequest((request) => request.method() === 'PUT' && request.url().endsWith('/grants')),
        page.getByRole('button', { name: 'Save role' }).click()
      ])
      t.same(put.postDataJSON(), { grants }, 'the builder wrote back exactly the stored grants')
      await page.getByRole('form', { name: 'Edit Every operator' }).waitFor({ state: 'detached' })
      t.same((await roleNamed(api, owner, 'Every operator'))?.grants, grants, 'and they are stored unchanged')
    })

    await test('an admin\'s malformed action and owner-only grant are refused in the grants, with the API\'s reasons', async (t, open) => {
      const { page } = await open()
      await signIn(page, 'adam@roles.example', rolesPath)
      await newRole(page, 'Billing', 'Billing')
      await page.getByRole('button', { name: 'Create role' }).click()
      const invalid = page.getByRole('group', { name: 'Grant 1', exact: true }).locator('p.error')
      await invalid.waitFor()
      t.match(await invalid.textContent(), /^Grant 1, actions\/0: .*<resource>:<verb>/, 'a malformed action: the schema\'s reason in its grant')
      await field(page, 'Grant 1: actions').fill('billing:update')
      await page.getByRole('button', { name: 'Create role' }).click()
      await invalid.waitFor({ state: 'detached' })
      const refusal = page.locator('#role-grants-error')
      await refusal.waitFor()
      t.match(await refusal.textContent(), /^you cannot grant what you may not do yourself/, 'the escalation refusal\'s detail')
      t.equal(await field(page, 'Name').getAttribute('aria-invalid'), 'false', 'shown by the grants, not the name')
      t.equal(await roleNamed(api, owner, 'Billing'), undefined, 'and no role was created')
    })

    await test('a role in use cannot be deleted; one can be renamed and, unassigned, deleted', async (t, open) => {
      const roleId = await createRole(api, owner, 'Hooks', [{ actions: ['webhook:manage'], resource: 'webhook', effect: 'allow' }])
      await assign(api, owner, miaId, roleId)
      const { page } = await open()
      await signIn(page, 'olga@roles.example', rolesPath)
      const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'Hooks' }) })
      // The holders show by name once the members are read.
      await row.locator('td[data-label=Holders]', { hasText: 'mia' }).waitFor()
      t.equal(await row.locator('td[data-label=Holders]').textContent(), 'mia', 'its holder')
      await row.getByRole('button', { name: 'Delete Hooks' }).click()
      await row.getByRole('button', { name: 'Confirm deleting Hooks' }).click()
      const refusal = row.getByRole('alert')
      await refusal.waitFor()
      t.equal(await refusal.textContent(), 'the role is assigned; unassign it from its holders first', 'the in-use refusal\'s detail')
      t.equal(await row.locator('p.error').nth(1).textContent(), 'Held by mia@roles.example', 'and who holds it')

      await row.getByRole('button', { name: 'Edit Hooks' }).click()
      await field(page, 'Name').fill('Webhook managers')
      await field(page, 'Description').fill('manage the webhooks')
      await page.getByRole('button', { name: 'Save role' }).click()
      await page.getByRole('rowheader', { name: /^Webhook managers/ }).waitFor()
      t.match(await roleNamed(api, owner, 'Webhook managers'), { roleId, description: 'manage the webhooks' }, 'renamed and described')

      const unassigned = await api.call('DELETE', `/v1/orgs/${owner.orgId}/members/${miaId}/roles/${roleId}`, { token: owner.token })
      t.equal(unassigned.statusCode, 200, 'unassigned')
      await page.reload()
      const renamed = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: /^Webhook managers/ }) })
      await renamed.getByRole('button', { name: 'Delete Webhook managers' }).click()
      await renamed.getByRole('button', { name: 'Confirm deleting Webhook managers' }).click()
      await renamed.waitFor({ state: 'detached' })
      t.equal((await rolesOf(api, owner)).some((role) => role.roleId === roleId), false, 'deleted')
    })

    await test('who can do an action lists the owner, the admin and a member holding a role that grants it', async (t, open) => {
      const roleId = await createRole(api, owner, 'Hook keeper', [{ actions: ['webhook:manage'], resource: 'webhook', effect: 'allow' }])
      await assign(api, owner, miaId, roleId)
      await holdsAccess(api, owner, 'webhook:manage', miaId)
      await holdsAccess(api, owner, 'webhook:manage', adminId)
      const { page } = await open()
      await signIn(page, 'olga@roles.example', rolesPath)
      await field(page, 'Action').selectOption('webhook:manage')
      await page.getByRole('button', { name: 'Show who can' }).click()
      const table = page.getByRole('table', { name: 'Who can' })
      await table.getByRole('row').filter({ hasText: 'mia@roles.example' }).waitFor()
      const emails = await table.locator('tbody th').allTextContents()
      t.same(emails.toSorted(), ['adam@roles.example', 'mia@roles.example', 'olga@roles.example'], 'the three, not the viewer')
      const mia = table.getByRole('row').filter({ hasText: 'mia@roles.example' })
      t.match(await mia.textContent(), /Hook keeper: allow webhook:manage on webhook/, 'mia through her custom role')
      t.equal(await mia.locator('td').last().textContent(), 'allowed', 'and a check on a webhook allows it')
    })

    await test('a few dozen custom roles are all listed, and the page fits 390 px', async (t, open) => {
      const before = (await rolesOf(api, owner)).length
      for (let i = 0; i < BULK; i++) {
        await createRole(api, owner, `Bulk ${String(i).padStart(2, '0')}`, [{ actions: ['audit:read'], resource: '*', effect: 'allow' }])
      }
      const { page } = await open({ width: 390, height: 844 })
      await signIn(page, 'olga@roles.example', rolesPath)
      const rows = page.getByRole('table', { name: 'Roles' }).locator('tbody tr')
      await waitForCount(rows, before + BULK)
      const names = await listedNames(page)
      t.equal(names.filter((name) => name.startsWith('Bulk ')).length, BULK, `all ${BULK} of them`)
      await page.getByRole('button', { name: 'Edit Small payouts' }).click()
      await field(page, 'Grant 1, condition 2.2.1: operator').waitFor()
      t.ok((await overflow(page)) <= 0, 'the list and the builder fit 390 px')
      t.same(await seriousViolations(page), [], 'on a phone: no serious accessibility violation (axe-core)')
    })
  })
})
