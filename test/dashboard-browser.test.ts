/**
 * The dashboard in Debian's chromium against a real listening server, on
 * PGlite and on PostgreSQL: sign-in, invite and accept, the members' pages,
 * an expired session that comes back to its page, sign-out, and a CSP
 * violation caught as a failure. With DASHBOARD_SCREENSHOTS=1 the PGlite run
 * saves README's screenshots.
 */
import t from 'tap'
import { addMember, registerUser } from '../src/application/identity/commands.ts'
import { requestImpersonation } from '../src/application/impersonation/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { csrfTokenOf } from '../src/http/plugins/csrf.ts'
import { openTestApp } from './helpers/app.ts'
import {
  browserTest, listening, openBrowser, ownerWithOrg, PASSWORD, screenshot, screenshotsFor, seriousViolations, signIn, until, waitForCount
} from './helpers/browser.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { register } from './helpers/http.ts'

t.test('the dashboard in a browser', async (t) => {
  const browser = await openBrowser(t)
  await forEachDatabase(t, async (t, { sql, driver }) => {
    // Screenshots only when asked for (DASHBOARD_SCREENSHOTS=1): a test run must not rewrite the repository's files.
    const shots = screenshotsFor(driver)
    // Every sign-up and sign-in here comes from one address: more than the default 10 a minute.
    const api = await openTestApp(t, sql, { LOGIN_RATE_LIMIT_PER_MINUTE: '100' })
    const origin = await listening(api)
    const test = (name: string, fn: Parameters<typeof browserTest>[4]) => browserTest(t, name, browser, origin, fn)
    const owner = await ownerWithOrg(api, 'olivia@dash.example', 'Acme Robotics')
    if ((await api.call('POST', '/v1/orgs', { token: owner.token, body: { name: 'Other Co' } })).statusCode !== 201) throw new Error('org')

    await test('signing in lands on the members of the first organization, and a client route survives a reload', async (t, open) => {
      const { page } = await open()
      await page.goto('/app/')
      await page.waitForURL(/\/app\/sign-in\?next=%2F$/)
      await page.getByRole('heading', { name: 'Sign in to Ledgerline' }).waitFor()
      t.equal(await page.getByText('Your session has ended').count(), 0, 'a first visit is not told its session ended')
      await screenshot(page, 'dashboard-sign-in', shots)
      t.same(await seriousViolations(page), [], 'sign-in: no serious accessibility violation (axe-core)')
      await page.getByLabel('E-mail', { exact: true }).fill('olivia@dash.example')
      await page.getByLabel('Password', { exact: true }).fill('not the password')
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.getByRole('alert').filter({ hasText: /password/i }).waitFor()
      t.pass('a wrong password says so on the form')
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL(`**/app/orgs/${owner.orgId}/members`)
      await page.getByRole('heading', { name: 'Members of Acme Robotics' }).waitFor()
      const cookies = await page.context().cookies()
      const session = cookies.find((cookie) => cookie.name === 'll_session')
      t.same([session?.httpOnly, session?.sameSite], [true, 'Strict'], 'the session cookie is HttpOnly and SameSite=Strict')
      t.equal(await page.evaluate('document.cookie.includes("ll_session")'), false, 'the page\'s scripts cannot read the session')
      await page.reload()
      await page.getByRole('heading', { name: 'Members of Acme Robotics' }).waitFor()
      t.pass(`${driver}: the members page reloads at its own address`)
    })

    await test('an owner invites, the invitee accepts as a new user and is a member; a second invitation is revoked', async (t, open) => {
      const { page } = await open()
      await signIn(page, 'olivia@dash.example', `/app/orgs/${owner.orgId}/members`)
      await page.getByLabel('E-mail', { exact: true }).fill('ivan@dash.example')
      await page.getByLabel('Role', { exact: true }).selectOption('admin')
      await page.getByRole('button', { name: 'Invite' }).click()
      const link = await page.getByLabel('Invitation link').inputValue()
      t.match(link, new RegExp(`^${origin}/app/invitations/.+\\?email=ivan%40dash.example$`), 'the link to send')
      await page.getByRole('table', { name: 'Pending invitations' }).getByRole('cell', { name: 'ivan@dash.example', exact: true }).waitFor()
      await screenshot(page, 'dashboard-members', shots)
      t.same(await seriousViolations(page), [], 'members and invitations: no serious accessibility violation (axe-core)')

      const invitee = await open()
      await invitee.page.goto(link)
      t.equal(await invitee.page.getByLabel('Invited e-mail').inputValue(), 'ivan@dash.example', 'the address comes with the link')
      t.same(await seriousViolations(invitee.page), [], 'accepting: no serious accessibility violation (axe-core)')
      await invitee.page.getByLabel('Your name').fill('Ivan')
      await invitee.page.getByLabel('Password (at least 10 characters)').fill('short')
      await invitee.page.getByRole('button', { name: 'Create account and join' }).click()
      const refusal = await invitee.page.getByRole('alert').textContent()
      t.match(refusal, /10 characters/, `the API's refusal is shown next to the password (${refusal})`)
      await invitee.page.getByLabel('Password (at least 10 characters)').fill('ivan has a long password')
      await invitee.page.getByRole('button', { name: 'Create account and join' }).click()
      await invitee.page.waitForURL(`**/app/orgs/${owner.orgId}/members`)
      const row = invitee.page.getByRole('row').filter({ hasText: 'ivan@dash.example' })
      await row.getByText('Ivan (you)').waitFor()
      t.ok(await row.getByRole('checkbox', { name: 'admin' }).isChecked(), 'joined with the invited role')

      await page.getByLabel('E-mail', { exact: true }).fill('gone@dash.example')
      await page.getByRole('button', { name: 'Invite' }).click()
      const pending = page.getByRole('table', { name: 'Pending invitations' })
      await pending.getByRole('cell', { name: 'gone@dash.example', exact: true }).waitFor()
      await page.getByRole('button', { name: 'Revoke the invitation of gone@dash.example' }).click()
      await pending.getByRole('cell', { name: 'gone@dash.example', exact: true }).waitFor({ state: 'detached' })
      await page.reload()
      await page.getByRole('table', { name: 'Members' }).getByRole('cell', { name: 'ivan@dash.example', exact: true }).waitFor()
      t.pass('the owner sees Ivan among the members')
    })

    await test('an existing user accepts with their account: signed out, sign-in brings them back to join', async (t, open) => {
      const erin = await register(api, 'erin@dash.example', PASSWORD)
      const invited = await api.call('POST', `/v1/orgs/${owner.orgId}/invitations`,
        { token: owner.token, body: { email: 'erin@dash.example', roles: ['member'] } })
      t.equal(invited.statusCode, 201, 'the owner invites an address that has an account')
      const link = `/app/invitations/${(invited.json() as { token: string }).token}?email=erin%40dash.example`
      const { page } = await open()
      await page.goto(link)
      await page.getByRole('button', { name: 'Join with my account' }).click()
      await page.waitForURL(/\/app\/sign-in\?next=/)
      t.pass('signed out, joining sends them to sign in')
      await page.getByLabel('E-mail', { exact: true }).fill('erin@dash.example')
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL(/\/app\/invitations\//)
      await page.getByRole('button', { name: 'Join with my account' }).click()
      await page.waitForURL(`**/app/orgs/${owner.orgId}/members`)
      await page.getByRole('row').filter({ hasText: 'erin@dash.example' }).getByText('(you)').waitFor()
      const members = await api.call('GET', `/v1/orgs/${owner.orgId}/members?limit=100`, { token: owner.token })
      const joined = (members.json() as { items: Array<{ userId: string, roles: string[] }> }).items.find((m) => m.userId === erin.userId)
      t.same(joined?.roles, ['member'], 'the existing account joined with the invited role, through its cookie session')
    })

    await test('members page through 20 at a time, roles switch, and a member is removed', async (t, open) => {
      // 24 more members: 27 with the owner, Ivan and Erin, so two pages of 20 and 7.
      for (let i = 0; i < 24; i++) {
        const email = `m${String(i).padStart(2, '0')}@dash.example`
        const { userId } = await registerUser(api.runtime.identity, systemCommand('browser-test'), { email, displayName: `Member ${i}` })
        await addMember(api.runtime.identity, { ...systemCommand('browser-test'), actor: { type: 'user', id: owner.userId } },
          owner.orgId, { userId, roles: ['member'] })
      }
      const role = await api.call('POST', `/v1/orgs/${owner.orgId}/roles`, { token: owner.token,
        body: { name: 'Auditors', grants: [{ actions: ['audit:read'], resource: '*', effect: 'allow' }] } })
      t.equal(role.statusCode, 201, 'a custom role to assign')
      const { page } = await open()
      await signIn(page, 'olivia@dash.example', `/app/orgs/${owner.orgId}/members`)
      const rows = page.getByRole('table', { name: 'Members' }).locator('tbody tr')
      await page.getByText('Page 1').waitFor()
      await waitForCount(rows, 20)
      await page.getByRole('button', { name: 'Next' }).click()
      await page.getByText('Page 2').waitFor()
      await waitForCount(rows, 7)
      t.ok(await page.getByRole('button', { name: 'Next' }).isDisabled(), 'no page after the last')
      await page.getByRole('button', { name: 'Previous' }).click()
      await waitForCount(rows, 20)
      t.pass('20 on the first page, 7 on the second, and back')

      // Members are ordered by user id: take one of the seeded members on this page.
      const email = (await rows.filter({ hasText: /^Member \d+/ }).first().getByRole('cell').nth(1).textContent())!
      const target = rows.filter({ hasText: email })
      const viewer = target.getByRole('checkbox', { name: 'viewer' })
      await viewer.click()
      await until(() => viewer.isChecked(), 'the viewer role')
      t.pass('the viewer role is assigned, as the list read back says')
      await target.getByLabel(`Add a custom role to ${email}`).selectOption({ label: 'Auditors' })
      const chip = target.getByRole('button', { name: `Remove the role Auditors from ${email}` })
      await chip.waitFor()
      t.pass('a custom role is assigned, and shown by its name')
      await chip.click()
      await chip.waitFor({ state: 'detached' })
      t.pass('and unassigned')
      await target.getByRole('button', { name: 'Remove' }).click()
      await target.getByRole('button', { name: `Confirm removing ${email}` }).click()
      await target.waitFor({ state: 'detached' })
      t.pass('the member is removed from the list')
    })

    await test('the organization switcher keeps the page; an expired session signs in again and comes back', async (t, open) => {
      const { page, context } = await open()
      await signIn(page, 'olivia@dash.example', `/app/orgs/${owner.orgId}/members`)
      await page.getByLabel('Organization').selectOption({ label: 'Other Co' })
      await page.getByRole('heading', { name: 'Members of Other Co' }).waitFor()
      const here = new URL(page.url()).pathname
      // The session ends behind the page's back (expired, or revoked elsewhere): the next call is a 401.
      const token = (await context.cookies()).find((cookie) => cookie.name === 'll_session')!.value
      t.equal((await api.call('POST', '/v1/auth/logout', { token })).statusCode, 200)
      // The next call the page makes is refused, and the page goes to sign-in. That call is the invitation below, or,
      // on a loaded machine, a read of the page's own still to come: then the form is gone before its click, so its
      // steps give up after a while and the sign-in is awaited all the same.
      const signedOut = page.waitForURL(/\/app\/sign-in\?next=.*&expired=1/)
      const invite = page.getByRole('form', { name: 'Invite someone' })
      await Promise.race([signedOut, (async () => {
        await invite.getByLabel('E-mail', { exact: true }).fill('nobody@dash.example', { timeout: 5000 })
        await invite.getByRole('button', { name: 'Invite' }).click({ timeout: 5000 })
      })().catch(() => {})])
      await signedOut
      await page.getByText('Your session has ended').waitFor()
      t.pass('the sign-in page says why')
      await page.getByLabel('E-mail', { exact: true }).fill('olivia@dash.example')
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL(`**${here}`)
      t.pass('back on the page the user was on')

      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.waitForURL('**/app/sign-in')
      t.same((await context.cookies()).map((cookie) => cookie.name), [], 'signing out clears the cookies')
    })

    await test('a phone-width window shows the members page; sign-in never sends the user to another site', async (t, open) => {
      const { page } = await open({ width: 390, height: 844 })
      await page.goto('/app/sign-in?next=//evil.example/app')
      await page.getByLabel('E-mail', { exact: true }).fill('olivia@dash.example')
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL(`**/app/orgs/${owner.orgId}/members`)
      t.equal(new URL(page.url()).origin, origin, 'a ?next= to another host lands on the dashboard\'s home instead')
      await page.getByRole('table', { name: 'Members' }).waitFor()
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
      t.ok(overflow <= 0, `nothing wider than the window (${overflow} px over)`)
      await screenshot(page, 'dashboard-members-phone', shots)
      await page.getByRole('link', { name: 'My security log' }).click()
      const log = page.getByRole('table', { name: 'Security log' })
      await log.waitFor()
      t.ok(await log.locator('tbody tr').count() >= 5, 'my security log lists my sign-ins, the failed one included')
      t.ok(await log.getByText('identity.session.sign_in_failed').count() >= 1, 'the wrong password of the first test is there')
      t.same(await seriousViolations(page), [], 'the security log: no serious accessibility violation (axe-core)')
      await page.getByRole('link', { name: 'Members' }).click()
      await page.getByRole('heading', { name: 'Members of Acme Robotics' }).waitFor()
      t.pass('from a page outside organizations, Members goes back to the organization last seen')
      t.same(await seriousViolations(page), [], 'members on a phone: no serious accessibility violation (axe-core)')
    })

    await test('while impersonating, the banner names whom, by whom and why, counts down, has no close button, and Stop ends it',
      async (t, open) => {
        const as = { ...systemCommand('browser-test'), actor: { type: 'user' as const, id: owner.userId } }
        const target = await registerUser(api.runtime.identity, systemCommand('browser-test'),
          { email: 'tess@dash.example', displayName: 'Tess Target' })
        await addMember(api.runtime.identity, as, owner.orgId, { userId: target.userId, roles: ['member'] })
        const { token } = await requestImpersonation(api.runtime.impersonation, as, owner.orgId,
          { userId: owner.userId, impersonating: false, via: 'member' },
          { targetUserId: target.userId, reason: 'checking why her export fails' })
        const { page, context } = await open()
        // The impersonation token in the session cookie, as a sign-in would set it.
        await context.addCookies(['ll_session', 'll_csrf'].map((name) => ({
          name, value: name === 'll_session' ? token! : csrfTokenOf(token!), url: origin, sameSite: 'Strict' as const
        })))
        await page.goto(`/app/orgs/${owner.orgId}/members`)
        const banner = page.getByRole('alert').filter({ hasText: 'Impersonation active' })
        await banner.waitFor()
        const text = (await banner.textContent())!
        for (const part of ['Tess Target', 'tess@dash.example', 'olivia', 'checking why her export fails']) {
          t.ok(text.includes(part), `the banner names ${part}`)
        }
        const countdown = banner.locator('time')
        const first = await countdown.textContent()
        t.match(first, /^\d+:\d{2}$/, `a countdown (${first})`)
        await until(async () => (await countdown.textContent()) !== first, 'the countdown to move')
        t.same(await banner.getByRole('button').allTextContents(), ['Stop'], 'Stop is its only button: it cannot be dismissed')
        await page.getByRole('link', { name: 'My security log' }).click()
        await page.getByRole('heading', { name: 'My security log' }).waitFor()
        await page.getByRole('alert').filter({ hasNotText: 'Impersonation active' }).waitFor()
        t.ok(await banner.isVisible(), 'on the security log too (which an impersonation may not read: the page says so)')
        await page.getByRole('link', { name: 'Members' }).click()
        await page.getByLabel('Organization').selectOption({ index: 0 })
        await page.getByRole('table', { name: 'Members' }).waitFor()
        t.ok(await banner.isVisible(), 'still there after the organization switcher: three pages')
        await screenshot(page, 'dashboard-impersonation', shots)
        t.same(await seriousViolations(page), [], 'the banner: no serious accessibility violation (axe-core)')
        // Someone else on this page (members are ordered by user id).
        const rows = page.getByRole('table', { name: 'Members' }).locator('tbody tr')
        const other = (await rows.filter({ hasNotText: '(you)' }).first().getByRole('cell').nth(1).textContent())!
        const row = rows.filter({ hasText: other })
        await row.getByRole('button', { name: 'Remove' }).click()
        await row.getByRole('button', { name: `Confirm removing ${other}` }).click()
        const refusal = row.getByRole('alert')
        await refusal.waitFor()
        t.ok((await refusal.textContent())!.length > 0, `a refused action shows the API's detail: ${await refusal.textContent()}`)
        t.ok(await banner.isVisible(), 'and the impersonation goes on')
        await banner.getByRole('button', { name: 'Stop' }).click()
        await page.waitForURL('**/app/sign-in?stopped=1')
        t.same((await context.cookies()).map((cookie) => cookie.name), [], 'the impersonation\'s cookies are cleared')
        const after = await api.call('GET', '/v1/session', { token: token! })
        t.same([after.statusCode, after.json().code], [401, 'impersonation.ended'], 'the impersonation is over')
      })

    await test('a CSP violation on a page is caught and fails the test, and axe-core sees a missing label', async (t, open) => {
      const watched = await open()
      await watched.page.goto('/app/sign-in')
      await watched.page.getByRole('heading', { name: 'Sign in to Ledgerline' }).waitFor()
      t.same(watched.problems, [], 'the dashboard itself runs under its CSP without a violation')
      await watched.page.evaluate(`{
        const script = document.createElement('script')
        script.textContent = 'document.title = "inline ran"'
        document.body.append(script)
      }`)
      await until(() => watched.problems.some((problem) => problem.includes('CSP violation')))
      t.not(await watched.page.title(), 'inline ran', 'the inline script did not run')
      t.match(watched.problems.join('\n'), /CSP violation: script-src/, 'the watcher reports the violation')
      // Taken here: the watcher would otherwise (rightly) fail this test.
      watched.problems.length = 0
      await watched.page.evaluate('document.body.append(Object.assign(document.createElement("input"), { id: "unlabelled" }))')
      t.match((await seriousViolations(watched.page)).join('\n'), /^label: #unlabelled/m, 'axe-core reports an input without a label')
    })
  })
})
