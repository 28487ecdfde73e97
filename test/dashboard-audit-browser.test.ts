/**
 * The dashboard's audit log page in Debian's chromium against a real
 * listening server, on PGlite and on PostgreSQL. The organization has 31
 * rbac rows (30 roles created, one renamed) among others, more than three
 * pages of 10: the action filter, kept in the address, shows only them;
 * paging forward and back shows each once, newest first, as the API lists
 * them; a row's details show its diff; the exports download only the
 * matching rows; an empty search, a refused filter and a member without
 * audit:read each get a message; and the page fits a phone-width window.
 */
import { readFile } from 'node:fs/promises'
import t from 'tap'
import type { Download, Page } from 'playwright-core'
import { addMember } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import {
  browserTest, listening, openBrowser, ownerWithOrg, PASSWORD, screenshot, screenshotsFor, seriousViolations, signIn, until
} from './helpers/browser.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { register } from './helpers/http.ts'

const ROLES = 30

interface Row { seq: number, action: string }
/** What the in-page read uses of a DOM element (the tests compile without the DOM's types). */
interface Cell {
  getAttribute: (name: string) => string | null
  querySelectorAll: (selector: string) => Iterable<Cell>
  querySelector: (selector: string) => Cell | null
  textContent: string | null
}

/**
 * The rows the table shows once it is no longer showing the previous page in
 * its place, read in one step in the page (the busy flag, every row's seq and
 * action from the same render: read apart, a render between two reads could
 * mix two pages).
 */
async function shownRows (page: Page): Promise<Row[]> {
  const table = page.getByRole('table', { name: 'Audit log' })
  let rows: Row[] | undefined
  await until(async () => {
    rows = await table.evaluate((element: Cell) => element.getAttribute('aria-busy') !== 'false'
      ? undefined
      : [...element.querySelectorAll('tbody tr')].map((tr) => ({
          seq: Number(tr.querySelector('td:nth-child(1)')?.textContent), action: tr.querySelector('td:nth-child(3)')?.textContent ?? ''
        })))
    return rows !== undefined
  }, 'the page to load')
  return rows!
}

/** Waits for the table to show other rows than `before` (the next or previous page). */
async function rowsAfter (page: Page, before: Row[]): Promise<Row[]> {
  let rows: Row[] = before
  await until(async () => {
    rows = await shownRows(page)
    return rows[0]?.seq !== before[0]?.seq
  }, 'another page')
  return rows
}

async function downloaded (page: Page, link: string): Promise<{ download: Download, text: string }> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: link }).click()])
  const path = await download.path()
  return { download, text: await readFile(path, 'utf8') }
}

/** The organization's rows under a filter, newest first, as the API answers its owner (the page must show the same). */
async function apiRows (api: TestApp, token: string, orgId: string, action: string): Promise<Row[]> {
  const response = await api.call('GET', `/v1/orgs/${orgId}/audit-events?action=${encodeURIComponent(action)}&limit=500`, { token })
  if (response.statusCode !== 200) throw new Error(`audit-events: ${response.body}`)
  return (response.json() as { items: Row[] }).items.map(({ seq, action }) => ({ seq, action }))
}

t.test('the audit log page in a browser', async (t) => {
  const browser = await openBrowser(t)
  await forEachDatabase(t, async (t, { sql, driver }) => {
    const shots = screenshotsFor(driver)
    const api = await openTestApp(t, sql)
    const origin = await listening(api)
    const test = (name: string, fn: Parameters<typeof browserTest>[4]) => browserTest(t, name, browser, origin, fn)
    const owner = await ownerWithOrg(api, 'olga@audit.example', 'Audit Co')
    const roleIds: string[] = []
    for (let i = 0; i < ROLES; i++) {
      const created = await api.call('POST', `/v1/orgs/${owner.orgId}/roles`, { token: owner.token, body: {
        name: `Role ${String(i).padStart(2, '0')}`, grants: [{ actions: ['audit:read'], resource: '*', effect: 'allow' }] } })
      if (created.statusCode !== 201) throw new Error(`role: ${created.body}`)
      roleIds.push((created.json() as { roleId: string }).roleId)
    }
    const renamed = await api.call('PATCH', `/v1/orgs/${owner.orgId}/roles/${roleIds[0]}`,
      { token: owner.token, body: { name: 'Renamed role' } })
    if (renamed.statusCode !== 200) throw new Error(`rename: ${renamed.body}`)
    // A plain member: members do not hold audit:read.
    const member = await register(api, 'max@audit.example', PASSWORD)
    await addMember(api.runtime.identity, { ...systemCommand('browser-test'), actor: { type: 'user', id: owner.userId } }, owner.orgId,
      { userId: member.userId, roles: ['member'] })
    // The audit log is a projection: wait for it to hold every row the set-up wrote.
    await until(async () => (await apiRows(api, owner.token, owner.orgId, 'rbac.*')).length === ROLES + 1, 'the audit rows')
    const expected = await apiRows(api, owner.token, owner.orgId, 'rbac.*')
    const auditPath = `/app/orgs/${owner.orgId}/audit`

    await test('an action prefix filters the rows and stays in the address; pages go forward and back without a repeat',
      async (t, open) => {
        const { page } = await open()
        await signIn(page, 'olga@audit.example', `/app/orgs/${owner.orgId}/members`)
        await page.getByRole('link', { name: 'Audit log' }).click()
        await page.getByRole('heading', { name: 'Audit log of Audit Co' }).waitFor()
        const unfiltered = await shownRows(page)
        t.ok(unfiltered.some((row) => !row.action.startsWith('rbac.')), 'unfiltered, the log has other rows than rbac ones')

        await page.getByLabel('Action', { exact: true }).fill('rbac.*')
        await page.getByLabel('Rows per page').selectOption('10')
        await page.getByRole('button', { name: 'Apply filters' }).click()
        await until(() => new URL(page.url()).searchParams.get('action') === 'rbac.*', 'the filter in the address')
        t.equal(new URL(page.url()).searchParams.get('limit'), '10', 'the page size is in the address too')
        const pages: Row[][] = [await rowsAfter(page, unfiltered)]
        t.ok(pages[0]!.every((row) => row.action.startsWith('rbac.')), `only rbac rows: ${pages[0]!.map((row) => row.action).join(', ')}`)
        await screenshot(page, 'dashboard-audit', shots)
        t.same(await seriousViolations(page), [], 'the audit log: no serious accessibility violation (axe-core)')

        const next = page.getByRole('button', { name: 'Next' })
        while (!(await next.isDisabled())) {
          await next.click()
          pages.push(await rowsAfter(page, pages.at(-1)!))
        }
        // The seqs in the names: when one of these fails, its name alone says what the page showed.
        const shown = (rows: Row[]) => rows.map((row) => row.seq).join(' ')
        t.same(pages.map((rows) => rows.length), [10, 10, 10, 1],
          `31 rows in pages of 10, 10, 10 and 1 (shown: ${pages.map(shown).join(' | ')}; the API: ${shown(expected)})`)
        const seen = pages.flat()
        t.equal(new Set(seen.map((row) => row.seq)).size, seen.length, 'no row shows twice')
        t.same(seen, expected, 'every matching row once, newest first, as the API lists them')
        t.ok(seen.every((row, i) => i === 0 || row.seq < seen[i - 1]!.seq), 'newest first')

        const previous = page.getByRole('button', { name: 'Previous' })
        for (let i = pages.length - 2; i >= 0; i--) {
          await previous.click()
          const back = await rowsAfter(page, pages[i + 1]!)
          t.same(back, pages[i], `back on page ${i + 1}: the same rows as before (now ${shown(back)})`)
        }
        t.ok(await previous.isDisabled(), 'no page before the first')

        await page.reload()
        t.equal(await page.getByLabel('Action', { exact: true }).inputValue(), 'rbac.*', 'a reload keeps the filter in its field')
        t.equal(await page.getByLabel('Rows per page').inputValue(), '10', 'and the page size')
        const reloaded = await shownRows(page)
        t.same(reloaded, pages[0], `and shows the same first page (now ${shown(reloaded)})`)
      })

    await test('a row\'s details show its diff and metadata; the exports hold only the filtered rows', async (t, open) => {
      const { page } = await open()
      await signIn(page, 'olga@audit.example', auditPath)
      // A shared link: the filters come from the address.
      await page.goto(`${auditPath}?action=${encodeURIComponent('rbac.role.*')}&limit=10`)
      const rows = await shownRows(page)
      t.same(rows, expected.slice(0, 10), 'the link\'s filter and page size apply')

      // The newest rbac row is the rename.
      const details = page.getByRole('button', { name: `Details of row ${rows[0]!.seq}`, exact: true })
      await details.click()
      const dialog = page.getByRole('dialog', { name: `Row #${rows[0]!.seq}: rbac.role.renamed` })
      await dialog.waitFor()
      const change = dialog.getByRole('table', { name: 'Changes' }).getByRole('row').filter({ hasText: 'name' })
      t.same(await change.locator('td').allTextContents(), ['Role 00', 'Renamed role'], 'the diff: the name before and after')
      t.match(await dialog.textContent(), owner.userId, 'the metadata names the actor')
      t.same(await seriousViolations(page), [], 'the details dialog: no serious accessibility violation (axe-core)')
      await page.keyboard.press('Escape')
      await dialog.waitFor({ state: 'detached' })
      t.equal(await page.evaluate('document.activeElement.textContent'), `Details of row ${rows[0]!.seq}`,
        'Escape closes it and the focus goes back to its button')
      // A click anywhere on a row opens it too; a created role has only "after" values.
      await page.getByRole('table', { name: 'Audit log' }).locator('tbody tr').nth(1).locator('td').nth(2).click()
      const created = page.getByRole('dialog', { name: `Row #${rows[1]!.seq}: rbac.role.created` })
      await created.waitFor()
      t.same(await created.getByRole('row').filter({ hasText: /^name/ }).locator('td').allTextContents(), ['null', `Role ${ROLES - 1}`],
        'a created role: no name before, its name after')
      await created.getByRole('button', { name: 'Close' }).click()
      await created.waitFor({ state: 'detached' })

      const ndjson = await downloaded(page, 'Export NDJSON')
      t.match(ndjson.download.suggestedFilename(), /\.ndjson$/, 'an NDJSON file')
      const lines = ndjson.text.trim().split('\n').map((line) => JSON.parse(line) as Row)
      t.same(lines.map(({ seq, action }) => ({ seq, action })), expected.toReversed(),
        `the NDJSON export: the ${expected.length} matching rows, oldest first, and nothing else`)
      const csv = await downloaded(page, 'Export CSV')
      t.match(csv.download.suggestedFilename(), /\.csv$/, 'a CSV file')
      const records = csv.text.trim().split(/\r?\n/).slice(1)
      t.equal(records.length, expected.length, 'the CSV export: a line for each matching row')
      t.ok(records.every((line) => line.includes(',rbac.role.')), 'each of them an rbac row')
    })

    await test('no match, a refused filter and a member without audit:read each get a message', async (t, open) => {
      const { page } = await open()
      await signIn(page, 'olga@audit.example', auditPath)
      await page.getByRole('table', { name: 'Audit log' }).waitFor()
      await page.getByLabel('Action', { exact: true }).fill('nothing.here.*')
      await page.getByRole('button', { name: 'Apply filters' }).click()
      await page.getByText('No rows match these filters.').waitFor()
      t.equal(await page.getByRole('table', { name: 'Audit log' }).count(), 0, 'no match: a message and no table')
      t.equal(await page.getByRole('link', { name: 'Export CSV' }).count(), 0, 'and nothing to export')
      await page.getByLabel('Action', { exact: true }).fill('')
      await page.getByLabel('IP address').fill('not-an-ip')
      await page.getByRole('button', { name: 'Apply filters' }).click()
      const refusal = page.getByRole('alert')
      await refusal.waitFor()
      t.equal(await refusal.textContent(), 'the request does not match the schema', 'a filter the API refuses: its detail is shown')
      const which = (await page.locator('ul.error').textContent())!
      t.match(which, /^IP address: /, `and which filter, with the API's reason (${which})`)

      const other = await open()
      await signIn(other.page, 'max@audit.example', auditPath)
      const forbidden = other.page.getByRole('alert')
      await forbidden.waitFor()
      t.match(await forbidden.textContent(), /audit:read/, `a member sees the API's 403 detail (${await forbidden.textContent()})`)
      t.ok(await other.page.getByRole('heading', { name: 'Audit log of Audit Co' }).isVisible(), 'on the page, not a broken one')
      t.equal(await other.page.getByRole('table', { name: 'Audit log' }).count(), 0, 'with no rows')
    })

    await test('at 390 px the rows and their details fit the window', async (t, open) => {
      const { page } = await open({ width: 390, height: 844 })
      await signIn(page, 'olga@audit.example', auditPath)
      await page.goto(`${auditPath}?action=${encodeURIComponent('rbac.*')}&limit=10`)
      t.equal((await shownRows(page)).length, 10, 'ten rows')
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
      t.ok(overflow <= 0, `nothing wider than the window (${overflow} px over)`)
      const table = (await page.getByRole('table', { name: 'Audit log' }).boundingBox())!
      t.ok(table.x >= 0 && table.x + table.width <= 390, `the table within the window (${table.x} to ${table.x + table.width})`)
      t.same(await seriousViolations(page), [], 'the audit log on a phone: no serious accessibility violation (axe-core)')
      await page.getByRole('button', { name: /^Details of row/ }).first().click()
      const dialog = page.getByRole('dialog')
      await dialog.waitFor()
      const box = (await dialog.boundingBox())!
      t.ok(box.x >= 0 && box.x + box.width <= 390, `the details within the window (${box.x} to ${box.x + box.width})`)
      const inside = await page.evaluate<number>(
        '(() => { const d = document.querySelector("dialog"); return d.scrollWidth - d.clientWidth })()')
      t.ok(inside <= 0, `nothing in the details wider than the dialog (${inside} px over)`)
    })
  })
})
