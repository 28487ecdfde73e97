/**
 * The audit page's other sections in Debian's chromium against a real
 * listening server, on PGlite and on PostgreSQL: verifying the chain (intact,
 * its progress while the job waits, then where it breaks once a row is
 * changed in the database), the signed digests with what checks them without
 * Ledgerline (the page's key, text and signature verify in Node), the
 * retention (the owner changes it, an error next to its field; an admin is
 * refused with the API's detail; a member without audit:read sees the 403),
 * and the assistant's usage (none, then the figures of responses streamed
 * from a fake OpenAI upstream, as the API reports them). axe-core on each,
 * and a phone-width window.
 */
import { verify } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { Page } from 'playwright-core'
import t from 'tap'
import { digestCompleteDays, startOfUtcDay } from '../src/application/audit/digests.ts'
import { signingKeyOf } from '../src/application/audit/signing-key.ts'
import { addMember, changeOrganization } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { assistantEnv, conversationsUrl } from './helpers/assistant.ts'
import {
  browserTest, listening, openBrowser, ownerWithOrg, PASSWORD, screenshot, screenshotsFor, seriousViolations, signIn, until
} from './helpers/browser.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { startFakeOpenAI, type FakeTurn } from './helpers/fake-openai.ts'
import { register } from './helpers/http.ts'

const DAY_MS = 86_400_000

interface Digests { keyId: string, publicKey: string, items: Array<{ day: string, lastHash: string, keyId: string, signature: string }> }
interface Report {
  ok: boolean, rowsChecked: number, digestsChecked: number, mismatch: { seq: number, column: string, found: unknown } | null
}
interface Figures {
  inputTokens: number, cachedInputTokens: number, outputTokens: number, costMicros: number, responses: number, estimatedResponses: number
}
interface Usage { from: string, to: string, totals: Figures, items: Array<Figures & { day: string, userId: string }> }

async function read<T> (api: TestApp, token: string, url: string): Promise<T> {
  const response = await api.call('GET', url, { token })
  if (response.statusCode !== 200) throw new Error(`GET ${url}: ${response.statusCode} ${response.body}`)
  return response.json() as T
}

/** Settings changed two days and one day ago (commands carry their own time): two days that are over, digested and signed. */
async function pastDaysSigned (api: TestApp, orgId: string): Promise<void> {
  const today = startOfUtcDay(new Date()).getTime()
  for (const [days, locale] of [[2, 'de-DE'], [1, 'en-GB']] as const) {
    await changeOrganization(api.runtime.identity, systemCommand('backfill', new Date(today - days * DAY_MS + 36_000_000)), orgId,
      { type: 'ChangeSettings', data: { settings: { locale } } })
  }
  await settled(api.runtime)
  await digestCompleteDays(api.runtime.sql, signingKeyOf(api.runtime.config), new Date())
}

/** The table's body rows as their cells' text; a cell holding a `<data>` element reads as its value. */
async function cells (page: Page, table: string, rows = 'tbody tr'): Promise<string[][]> {
  await page.getByRole('table', { name: table }).waitFor()
  return page.evaluate<string[][]>(`[...document.querySelector('table[aria-label="${table}"]').querySelectorAll('${rows}')]
    .map((tr) => [...tr.querySelectorAll('td, th')].map((cell) => cell.querySelector('data')?.getAttribute('value') ?? cell.textContent))`)
}

const figures = (f: Figures) => [f.inputTokens, f.cachedInputTokens, f.outputTokens, f.costMicros, f.responses].map(String)

t.test('the audit page\'s verify, retention and AI usage sections in a browser', async (t) => {
  const browser = await openBrowser(t)
  await forEachDatabase(t, async (t, { sql, driver }) => {
    const shots = screenshotsFor(driver)
    const fake = await startFakeOpenAI()
    t.teardown(() => fake.close())
    // Nine sign-ins and three sign-ups from one address within a minute: above the default limit, which is not under test here.
    const api = await openTestApp(t, sql, { ...assistantEnv(fake), LOGIN_RATE_LIMIT_PER_MINUTE: '100' })
    const origin = await listening(api)
    const test = (name: string, fn: Parameters<typeof browserTest>[4]) => browserTest(t, name, browser, origin, fn)
    const owner = await ownerWithOrg(api, 'otto@panels.example', 'Panels Co')
    const { orgId } = owner
    const people: Record<'admin' | 'member', { userId: string, token: string }> = {
      admin: await register(api, 'ada@panels.example', PASSWORD), member: await register(api, 'mia@panels.example', PASSWORD)
    }
    for (const role of ['admin', 'member'] as const) {
      await addMember(api.runtime.identity, { ...systemCommand('browser-test'), actor: { type: 'user', id: owner.userId } }, orgId,
        { userId: people[role].userId, roles: [role] })
    }
    await pastDaysSigned(api, orgId)
    const auditPath = `/app/orgs/${orgId}/audit`
    /** One message to the assistant in a new conversation of `token`'s user, streamed to its end; the upstream answers `turn`. */
    const ask = async (token: string, turn: FakeTurn) => {
      fake.enqueue(turn)
      const created = await api.call('POST', conversationsUrl(orgId), { token })
      if (created.statusCode !== 201) throw new Error(`conversation: ${created.body}`)
      const { conversationId } = created.json() as { conversationId: string }
      const response = await fetch(`${origin}${conversationsUrl(orgId)}/${conversationId}/messages`, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'How are we doing?' })
      })
      if (response.status !== 200) throw new Error(`message: ${response.status} ${await response.text()}`)
      await response.text()
    }

    await test('verifying an intact log says so; the signed digests show what checks them, and it checks', async (t, open) => {
      const { page } = await open()
      await signIn(page, 'otto@panels.example', `${auditPath}/verify`)
      const digests = await read<Digests>(api, owner.token, `/v1/orgs/${orgId}/audit-digests`)
      t.equal(digests.items.length, 2, 'the API lists the two days that are over')
      await page.getByRole('table', { name: 'Signed digests' }).waitFor()
      const shown = await cells(page, 'Signed digests')
      t.same(shown.map((row) => [row[0], row[2], row[3], row[4]]),
        digests.items.map((digest) => [digest.day, digest.lastHash, digest.keyId, digest.signature]),
        'each digest: its day, head hash, key id and signature, newest first, as the API lists them')

      await page.locator('details.public-key summary').click()
      const publicKey = (await page.locator('details.public-key pre').textContent())!
      t.equal(publicKey, digests.publicKey, 'the public key, as the API serves it')
      const newest = digests.items[0]!
      await page.getByText(`Show the signed text of ${newest.day}`).click()
      const signedText = (await page.getByRole('table', { name: 'Signed digests' }).locator('tbody tr').first().locator('pre')
        .textContent())!
      t.ok(verify(null, Buffer.from(signedText), publicKey, Buffer.from(shown[0]![4]!, 'base64')),
        'the signature on the page verifies over the signed text with the public key on the page')
      t.match(JSON.parse(signedText), { day: newest.day, lastHash: newest.lastHash }, 'and the text names the day and its head hash')
      const [download] = await Promise.all([page.waitForEvent('download'),
        page.getByRole('link', { name: 'Download the digests (JSON)' }).click()])
      t.same((JSON.parse(await readFile(await download.path(), 'utf8')) as Digests).items, digests.items,
        'the download holds the digests as the API serves them')

      await page.getByRole('button', { name: 'Verify the log' }).click()
      const verdict = page.locator('.verdict')
      await verdict.waitFor()
      const jobId = new URL(page.url()).searchParams.get('job')!
      const done = await read<{ state: string, report: Report }>(api, owner.token, `/v1/orgs/${orgId}/audit-events/verifications/${jobId}`)
      t.match(done, { state: 'succeeded', report: { ok: true, mismatch: null, digestsChecked: 2 } }, 'the API: succeeded, ok')
      t.match(await verdict.textContent(), `Intact. ${done.report.rowsChecked} rows and 2 signed digests match the event log`,
        'the page: intact, with the rows and digests the job checked')
      await screenshot(page, 'dashboard-audit-verify', shots)
      t.same(await seriousViolations(page), [], 'verify and digests: no serious accessibility violation (axe-core)')

      await page.reload()
      t.match(await page.locator('.verdict').textContent(), /^Intact\./, 'a reload shows the same verification (its id is in the address)')
    })

    await test('while the verification waits the page shows it; a row changed in the database shows where the chain breaks',
      async (t, open) => {
        const { page } = await open()
        await signIn(page, 'otto@panels.example', `${auditPath}/verify`)
        const { rows: [first] } = await sql.query<{ seq: number }>(
          'SELECT min(seq)::int AS seq FROM audit_events WHERE org_id = $1', [orgId])
        const { rowCount } = await sql.query("UPDATE audit_events SET actor_label = 'someone else' WHERE org_id = $1 AND seq = $2",
          [orgId, first!.seq])
        t.equal(rowCount, 1, 'one row changed behind the application\'s back')

        await api.runtime.jobs.stop() // nothing runs the verification yet
        await page.getByRole('button', { name: 'Verify the log' }).click()
        await page.getByText('Waiting for a worker…').waitFor()
        t.ok(await page.getByRole('progressbar', { name: 'Verification in progress' }).isVisible(), 'a progress bar while it waits')
        t.ok(await page.getByRole('button', { name: 'Verify the log' }).isDisabled(), 'and no second verification meanwhile')
        await api.runtime.jobs.start()

        const verdict = page.locator('.verdict')
        await verdict.waitFor()
        const jobId = new URL(page.url()).searchParams.get('job')!
        const done = await read<{ report: Report }>(api, owner.token, `/v1/orgs/${orgId}/audit-events/verifications/${jobId}`)
        t.match(done.report, { ok: false, mismatch: { seq: first!.seq, column: 'actor_label', found: 'someone else' } },
          'the API names the changed row')
        const text = (await verdict.textContent())!
        t.match(text, `The chain breaks at row #${first!.seq}.`, `the page names it too (${text})`)
        t.match(text, /actor_label/, 'and the column')
        t.match(text, /Foundsomeone else/, 'and what the row holds')
        t.ok(await page.getByRole('button', { name: 'Verify the log' }).isEnabled(), 'once over, it may run again')
      })

    await test('the owner changes the retention, with an error next to the field; an admin is refused with the API\'s detail; ' +
      'a member without audit:read sees the 403', async (t, open) => {
      const retentionPath = `/v1/orgs/${orgId}/audit-retention`
      const before = await read<{ days: number, setting: number | null, plan: string, min: number, max: number }>(
        api, owner.token, retentionPath)
      t.equal(before.setting, null, 'at first, the plan\'s default')
      const { page } = await open()
      await signIn(page, 'otto@panels.example', `${auditPath}/retention`)
      const facts = page.locator('dl.facts')
      await facts.waitFor()
      t.match(await facts.textContent(), `Kept for${before.days} days`, 'the retention in force')
      t.match(await facts.textContent(), `${before.plan}: `, 'and the plan')
      t.match(await facts.textContent(), `${before.min} to ${before.max} days allowed`, 'and what it allows')

      const field = page.getByLabel('Keep rows for (days)')
      await field.fill(String(before.max + 1))
      await page.getByRole('button', { name: 'Save' }).click()
      const error = page.locator('#retention-error')
      await error.waitFor()
      t.equal(await error.textContent(), 'the retention must be within what the plan allows', 'too long: the API\'s detail')
      t.equal(await field.getAttribute('aria-invalid'), 'true', 'the field is marked invalid')
      t.match(await field.getAttribute('aria-describedby'), /retention-error/, 'and described by the error next to it')

      const days = before.min + 7
      await field.fill(String(days))
      await page.getByRole('button', { name: 'Save' }).click()
      await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
      await until(async () => (await facts.textContent())!.includes(`Kept for${days} days`), 'the new retention on the page')
      t.match(await read(api, owner.token, retentionPath), { days, setting: days }, `the API keeps ${days} days`)
      t.same(await seriousViolations(page), [], 'retention: no serious accessibility violation (axe-core)')

      const admin = await open()
      await signIn(admin.page, 'ada@panels.example', `${auditPath}/retention`)
      await admin.page.locator('dl.facts').getByText(`${days} days`).first().waitFor()
      await admin.page.getByLabel('Keep rows for (days)').fill(String(before.min))
      await admin.page.getByRole('button', { name: 'Save' }).click()
      const refusal = admin.page.locator('#retention-error')
      await refusal.waitFor()
      t.match(await refusal.textContent(), /audit:configure/, `an admin: the API's 403 detail next to the form (${await refusal.textContent()})`)
      t.match(await read(api, owner.token, retentionPath), { setting: days }, 'and nothing changed')

      const member = await open()
      await signIn(member.page, 'mia@panels.example', `${auditPath}/retention`)
      const forbidden = member.page.getByRole('alert')
      await forbidden.waitFor()
      t.match(await forbidden.textContent(), /audit:read/, `a member: the API's 403 detail (${await forbidden.textContent()})`)
      t.equal(await member.page.getByLabel('Keep rows for (days)').count(), 0, 'and no form')

      await page.getByRole('button', { name: 'Back to the plan\'s default' }).click()
      await until(async () => (await facts.textContent())!.includes('Settingthe plan\'s default'), 'the default on the page')
      t.match(await read(api, owner.token, retentionPath), { setting: null, days: before.days }, 'back to the plan\'s default in the API')
    })

    await test('AI usage: none at first; then each member\'s tokens and cost per day as the API reports them', async (t, open) => {
      const usagePath = `/v1/orgs/${orgId}/ai/usage`
      const { page } = await open()
      await signIn(page, 'otto@panels.example', `${auditPath}/ai-usage`)
      const none = await read<Usage>(api, owner.token, usagePath)
      t.same(none.items, [], 'the API: no usage yet')
      t.equal(await page.getByText(`No assistant usage from ${none.from} to ${none.to}.`).textContent(),
        `No assistant usage from ${none.from} to ${none.to}.`, 'the page says so, for the API\'s range')
      t.equal(await page.getByRole('table', { name: 'AI usage by day and member' }).count(), 0, 'and shows no table')

      await ask(owner.token, { text: ['Fine.'], usage: { prompt_tokens: 1200, completion_tokens: 340, cached_tokens: 200 } })
      await ask(people.member.token, { text: ['Well.'], usage: { prompt_tokens: 800, completion_tokens: 60 } })
      await ask(people.member.token, { text: ['No usage from the provider.'], usage: null })
      await until(async () => (await read<Usage>(api, owner.token, usagePath)).totals.responses === 3, 'three responses in the usage')
      const usage = await read<Usage>(api, owner.token, usagePath)
      t.equal(usage.items.length, 2, 'the API: one item per member today')

      await page.reload()
      const table = 'AI usage by day and member'
      await page.getByRole('table', { name: table }).waitFor()
      const names: Record<string, string> = { [owner.userId]: 'otto (you)', [people.member.userId]: 'mia' }
      t.same(await cells(page, table), usage.items.map((item) =>
        [item.day, names[item.userId], ...figures(item), item.estimatedResponses === 0 ? 'provider' : 'provider; 1 of 2 estimated']),
      'each member\'s day: tokens in, cached, out, cost in micro-units, responses, and whose figures, as the API reports them')
      t.same((await cells(page, table, 'tfoot tr'))[0]!.slice(1, 6), figures(usage.totals), 'the totals too')
      t.ok(usage.items.some((item) => item.estimatedResponses === 1), 'the API counts the response without usage as an estimate')

      const language = await page.evaluate<string>('navigator.language')
      const money = (micros: number) => new Intl.NumberFormat(language,
        { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 6 }).format(micros / 1_000_000)
      const costs = await page.getByRole('table', { name: table }).locator('td[data-label=Cost]').allTextContents()
      t.same(costs, [...usage.items.map((item) => money(item.costMicros)), money(usage.totals.costMicros)],
        `costs shown as currency (${costs.join(', ')})`)
      t.ok(usage.totals.costMicros > 0, 'and they cost something')
      await screenshot(page, 'dashboard-ai-usage', shots)
      t.same(await seriousViolations(page), [], 'AI usage: no serious accessibility violation (axe-core)')

      const member = await open()
      await signIn(member.page, 'mia@panels.example', `${auditPath}/ai-usage`)
      await member.page.getByRole('table', { name: table }).waitFor()
      const own = usage.items.find((item) => item.userId === people.member.userId)!
      t.same(await cells(member.page, table), [[own.day, 'mia (you)', ...figures(own), 'provider; 1 of 2 estimated']],
        'a member without ai:manage: only their own usage')
    })

    await test('at 390 px each section fits the window', async (t, open) => {
      const { page } = await open({ width: 390, height: 844 })
      await signIn(page, 'otto@panels.example', `${auditPath}/verify`)
      for (const [section, ready] of [['verify', 'table'], ['retention', 'form'], ['ai-usage', 'table']] as const) {
        await page.goto(`${auditPath}/${section}`)
        await page.getByRole(ready).first().waitFor()
        const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
        t.ok(overflow <= 0, `${section}: nothing wider than the window (${overflow} px over)`)
        t.same(await seriousViolations(page), [], `${section} on a phone: no serious accessibility violation (axe-core)`)
      }
    })
  })
})
