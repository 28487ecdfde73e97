/**
 * The dashboard's impersonation page in Debian's chromium against a real
 * listening server, on PGlite and on PostgreSQL: the sessions list empty,
 * then with one; starting from the page (the API's refusals next to their
 * fields) switches the dashboard into the impersonation through its cookie,
 * the banner follows on three pages, a blocked action is refused, and Stop
 * ends it; break-glass between two people in two browsers (the requester's
 * own approval refused), started after approval and revoked by the approver;
 * support access off and on; pages of 10 at the boundary; revoke all; and
 * the page at 390 px.
 */
import t from 'tap'
import type { Locator, Page } from 'playwright-core'
import { addMember } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import {
  browserTest, listening, openBrowser, ownerWithOrg, screenshot, screenshotsFor, seriousViolations, signIn, until
} from './helpers/browser.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { register } from './helpers/http.ts'

const table = (page: Page) => page.getByRole('table', { name: 'Impersonation sessions' })
const rows = (page: Page) => table(page).locator('tbody tr')
const statuses = (page: Page) => table(page).locator('.imp-status').allTextContents()

/**
 * Refresh until `locator` shows: what another person (or the API) wrote
 * reaches the list once the read model has it, and the page does not poll.
 */
async function refreshUntil (page: Page, locator: Locator): Promise<void> {
  await until(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click()
    return locator.waitFor({ timeout: 1000 }).then(() => true, () => false)
  }, 'the change to show')
}

/** Starts a session over the API with a bearer token (201), and stops it unless asked to leave it open. */
async function session (api: TestApp, orgId: string, token: string, targetUserId: string, stop: boolean): Promise<string> {
  const started = await api.call('POST', `/v1/orgs/${orgId}/impersonations`,
    { token, body: { targetUserId, reason: 'set-up session for the list' } })
  if (started.statusCode !== 201) throw new Error(`start: ${started.body}`)
  const impersonation = (started.json() as { token: string }).token
  if (stop && (await api.call('POST', '/v1/impersonation/stop', { token: impersonation })).statusCode !== 200) throw new Error('stop')
  return impersonation
}

t.test('the impersonation page in a browser', async (t) => {
  const browser = await openBrowser(t)
  await forEachDatabase(t, async (t, { sql, driver }) => {
    const shots = screenshotsFor(driver)
    const api = await openTestApp(t, sql)
    const origin = await listening(api)
    const test = (name: string, fn: Parameters<typeof browserTest>[4]) => browserTest(t, name, browser, origin, fn)
    const owner = await ownerWithOrg(api, 'olivia@imp.example', 'Imp Co')
    const [ben, tess, cora] = [await register(api, 'ben@imp.example'), await register(api, 'tess@imp.example'),
      await register(api, 'cora@imp.example')]
    // Ben approves (an admin holds impersonation:approve); Cora, an admin, is a critical account: break-glass.
    for (const [user, role] of [[ben, 'admin'], [tess, 'member'], [cora, 'admin']] as const) {
      // Metadata of its own for each: one command id for all would make the later ones replays of the first.
      const as = { ...systemCommand('browser-test'), actor: { type: 'user' as const, id: owner.userId } }
      await addMember(api.runtime.identity, as, owner.orgId, { userId: user.userId, roles: [role] })
    }
    const here = `/app/orgs/${owner.orgId}/impersonations`
    const listed = async () => ((await api.call('GET', `/v1/orgs/${owner.orgId}/impersonations?limit=200`, { token: owner.token }))
      .json() as { items: unknown[] }).items.length

    await test('starting from the page switches the dashboard into the impersonation, on every page, until Stop', async (t, open) => {
      const { page, context } = await open()
      await signIn(page, 'olivia@imp.example', `/app/orgs/${owner.orgId}/members`)
      await page.getByRole('link', { name: 'Impersonation' }).click()
      await page.getByRole('heading', { name: 'Impersonation in Imp Co' }).waitFor()
      await page.getByText('No impersonation yet.').waitFor()
      t.equal(await table(page).count(), 0, 'no session: a message, no table')
      await screenshot(page, 'dashboard-impersonations', shots)
      t.same(await seriousViolations(page), [], 'the impersonation page: no serious accessibility violation (axe-core)')

      await page.getByLabel('Member', { exact: true }).selectOption({ label: 'tess (tess@imp.example)' })
      await page.getByLabel('Reason (at least 10 characters)').fill('too short')
      await page.getByLabel('Duration in minutes (1 to 60)').fill('90')
      await page.getByRole('button', { name: 'Start impersonating' }).click()
      const reason = page.getByLabel('Reason (at least 10 characters)')
      await until(async () => (await reason.getAttribute('aria-invalid')) === 'true', 'the reason marked invalid')
      t.equal(await page.locator('#imp-reason-error').textContent(), 'say why, in at least 10 characters',
        'the API\'s words, at the reason')
      t.match(await page.locator('#imp-duration-error').textContent(), /60/, 'and its limit at the duration')

      const before = (await context.cookies()).find((cookie) => cookie.name === 'll_session')!.value
      await reason.fill('checking why her export fails')
      await page.getByLabel('Duration in minutes (1 to 60)').fill('5')
      await page.getByRole('button', { name: 'Start impersonating' }).click()
      await page.waitForURL(`**/app/orgs/${owner.orgId}/members`)
      const banner = page.getByRole('alert').filter({ hasText: 'Impersonation active' })
      await banner.waitFor()
      const text = (await banner.textContent())!
      for (const part of ['tess@imp.example', 'olivia', 'checking why her export fails']) {
        t.ok(text.includes(part), `the banner names ${part}`)
      }
      t.match(await banner.locator('time').textContent(), /^[45]:\d{2}$/, 'five minutes or less to go')
      const cookie = (await context.cookies()).find((cookie) => cookie.name === 'll_session')!
      t.ok(cookie.value.startsWith('lli_') && cookie.httpOnly, 'the session cookie holds the impersonation token, HttpOnly')
      t.notOk((await page.evaluate<string>('document.cookie')).includes('lli_'), 'which the page\'s scripts cannot read')
      t.equal((await api.call('GET', '/v1/session', { token: before })).statusCode, 401, 'the impersonator\'s own session is revoked')

      await page.getByLabel('E-mail', { exact: true }).fill('new@imp.example')
      await page.getByRole('button', { name: 'Invite' }).click()
      const refusal = page.locator('#invite-error')
      await refusal.waitFor()
      t.match(await refusal.textContent(), /is not allowed while impersonating$/, `a blocked action: ${await refusal.textContent()}`)
      for (const link of ['Audit log', 'Impersonation']) {
        await page.getByRole('link', { name: link }).click()
        await page.getByRole('heading', { level: 1, name: new RegExp(`^${link}`) }).waitFor()
        t.ok(await banner.isVisible(), `the banner on ${link} too`)
      }
      await banner.getByRole('button', { name: 'Stop' }).click()
      await page.waitForURL('**/app/sign-in?stopped=1')
      t.same((await context.cookies()).map((cookie) => cookie.name), [], 'Stop clears the impersonation\'s cookies')

      await signIn(page, 'olivia@imp.example', here)
      await rows(page).first().waitFor()
      t.equal(await rows(page).count(), 1, 'one session listed')
      t.same(await statuses(page), ['stopped'], 'stopped')
      t.match(await rows(page).first().textContent(), /tess.*olivia \(you\).*checking why her export fails/, 'whom, by whom, why')
    })

    await test('break-glass: one requests, the requester cannot approve, another approves; started, then revoked', async (t, open) => {
      const olivia = await open()
      const benPage = await open()
      await signIn(olivia.page, 'olivia@imp.example', here)
      await olivia.page.getByLabel('Member', { exact: true }).selectOption({ label: 'cora (cora@imp.example)' })
      await olivia.page.getByLabel('Reason (at least 10 characters)').fill('incident INC-9: her account acts oddly')
      await olivia.page.getByLabel('Duration in minutes (1 to 60)').fill('10')
      await olivia.page.getByRole('button', { name: 'Start impersonating' }).click()
      const ticketError = olivia.page.locator('#imp-ticket-error')
      await ticketError.waitFor()
      t.match(await ticketError.textContent(), /break-glass: give a ticket reference/, 'a critical account: the API asks for a ticket there')
      await olivia.page.getByLabel('Ticket (break-glass only)').fill('SUP-7')
      await olivia.page.getByRole('button', { name: 'Start impersonating' }).click()
      await olivia.page.getByText('Break-glass request sent').waitFor()
      const request = rows(olivia.page).filter({ hasText: 'SUP-7' })
      await request.getByText('pending').waitFor()
      await request.getByRole('button', { name: 'Approve the request to act as cora' }).click()
      const own = request.getByRole('alert')
      await own.waitFor()
      t.equal(await own.textContent(), 'a break-glass request needs a second person: you cannot approve your own', 'self-approval refused')

      await signIn(benPage.page, 'ben@imp.example', here)
      const pending = rows(benPage.page).filter({ hasText: 'SUP-7' })
      await pending.getByRole('button', { name: 'Approve the request to act as cora' }).click()
      await pending.getByText('approved by ben').waitFor()
      t.pass('approved by someone else')

      const startIt = request.getByRole('button', { name: 'Start acting as cora' })
      await refreshUntil(olivia.page, startIt)
      await startIt.click()
      await olivia.page.waitForURL(`**/app/orgs/${owner.orgId}/members`)
      const banner = olivia.page.getByRole('alert').filter({ hasText: 'Impersonation active' })
      await banner.waitFor()
      t.match(await banner.textContent(), /cora@imp\.example.*incident INC-9/, 'the requester acts as Cora, under the banner')

      await refreshUntil(benPage.page, pending.getByText('active', { exact: true }))
      await pending.getByRole('button', { name: 'Revoke the session of cora' }).click()
      await pending.getByLabel('Why (optional): revoke the session of cora').fill('incident closed')
      await pending.getByRole('button', { name: 'Confirm revoke for cora' }).click()
      await pending.getByText('revoked', { exact: true }).waitFor()
      t.pass('revoked by the approver')
      await olivia.page.reload()
      await olivia.page.waitForURL(/\/app\/sign-in/)
      t.pass('the revoked impersonation\'s page goes back to sign-in')
      const imp = (await olivia.context.cookies()).find((cookie) => cookie.name === 'll_session')!.value
      t.match((await api.call('GET', '/v1/session', { token: imp })).json(), { code: 'impersonation.ended', reason: 'revoked' },
        'its cookie\'s impersonation has ended: revoked')
    })

    await test('at 390 px: support access off and on, pages of 10 at the boundary, revoke all', async (t, open) => {
      const { page } = await open({ width: 390, height: 844 })
      // Three so far (one stopped; a refused break-glass request and the revoked one): seven more make ten.
      await until(async () => (await listed()) === 3, 'the earlier sessions in the list')
      for (let i = 0; i < 7; i++) await session(api, owner.orgId, ben.token, tess.userId, true)
      await signIn(page, 'olivia@imp.example', here)
      const support = page.getByRole('switch', { name: /Platform support may impersonate/ })
      t.ok(await support.isChecked(), 'support access is on')
      await support.click()
      await page.getByText('Off: support staff cannot start a session here.').waitFor()
      t.notOk(await support.isChecked(), 'the switch shows it off')
      const read = async () => (await api.call('GET', `/v1/orgs/${owner.orgId}/support-access`, { token: owner.token })).json()
      await until(async () => (await read()).enabled === false, 'support access off for the API too')
      await support.click()
      await page.getByText('On: support staff can act as a member').waitFor()
      await until(async () => (await read()).enabled === true, 'and on again')

      await until(async () => (await rows(page).count()) === 10, 'ten sessions')
      t.equal(await page.getByRole('button', { name: 'Next' }).count(), 0, 'exactly 10: one page, no pager')
      await session(api, owner.orgId, ben.token, tess.userId, false)
      await session(api, owner.orgId, owner.token, tess.userId, false)
      await until(async () => (await listed()) === 12, 'the new sessions in the read model')
      await page.getByRole('button', { name: 'Refresh' }).click()
      await until(async () => (await statuses(page))[0] === 'active', 'the new sessions on the page')
      t.same(await statuses(page), ['active', 'active', ...Array<string>(7).fill('stopped'), 'revoked'],
        '12 sessions: the 10 newest on the first page, newest first')
      await page.getByRole('button', { name: 'Next' }).click()
      await until(async () => (await rows(page).count()) === 2, 'the second page')
      t.same(await statuses(page), ['denied', 'stopped'], 'the two oldest on the second: the refused request, the first session')
      t.match(await rows(page).last().textContent(), /checking why her export fails/, 'the first session last')
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
      t.ok(overflow <= 0, `nothing wider than the window (${overflow} px over)`)
      t.same(await seriousViolations(page), [], 'on a phone: no serious accessibility violation (axe-core)')

      await page.getByRole('button', { name: 'Revoke all…' }).click()
      await page.getByLabel('Why (optional): revoke every open session').fill('end of the drill')
      await page.getByRole('button', { name: 'Revoke every open session' }).click()
      await page.getByText('Revoked 2 open session(s).').waitFor()
      await page.getByLabel('Show', { exact: true }).selectOption('active')
      await page.getByText('No active session.').waitFor()
      t.pass('no session left open')
    })
  })
})
