/**
 * The dashboard's AI budget page in Debian's chromium against a real
 * listening server whose model is the fake OpenAI upstream, on PGlite and on
 * PostgreSQL: the month's figures as the budget API gives them; the spend
 * chart, a point per day with spend, its figures the usage API's; a budget set
 * below what is spent blocks the organization and the banner says how it
 * lifts, a higher one lifts it, then the plan's again; a missing reason and
 * amounts refused (by the form, and by the API with its detail); a member
 * without ai:manage has no link and gets the 403; 390 px. axe-core on each.
 */
import type { Page } from 'playwright-core'
import t from 'tap'
import { addMember } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { ONE_MICRO_PER_TOKEN } from './helpers/ai-budgets.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { assistantEnv, conversationsUrl } from './helpers/assistant.ts'
import {
  browserTest, listening, openBrowser, ownerWithOrg, PASSWORD, screenshot, screenshotsFor, seriousViolations, signIn, until
} from './helpers/browser.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import { register } from './helpers/http.ts'

interface Budget {
  plan: string, month: string, planMicros: number, monthlyMicros: number | null, budgetMicros: number, spentMicros: number,
  reservedMicros: number, projectedMonthEndMicros: number, state: 'active' | 'blocked', thresholdsCrossed: number[]
}
interface DayUsage { day: string, costMicros: number, responses: number }

const OWNER = 'olga@budget.example'
const MEMBER = 'max@budget.example'
/** What one response costs at one micro-unit a token: its prompt tokens plus this many out. */
const OUT = 50

async function read<T> (api: TestApp, token: string, url: string): Promise<T> {
  const response = await api.call('GET', url, { token })
  if (response.statusCode !== 200) throw new Error(`GET ${url}: ${response.statusCode} ${response.body}`)
  return response.json() as T
}

/** The facts block as `[term, value]`, a value holding a `<data>` element read as its exact figure. */
async function facts (page: Page): Promise<Record<string, string>> {
  await page.locator('dl.budget-facts').waitFor()
  return Object.fromEntries(await page.evaluate<string[][]>(`[...document.querySelectorAll('dl.budget-facts > div')].map((div) =>
    [div.querySelector('dt').textContent, div.querySelector('dd data')?.getAttribute('value') ?? div.querySelector('dd').textContent])`))
}

/** The spend table's rows: day, that day's spend and the month's so far (micro-units), responses. */
async function spendRows (page: Page): Promise<string[][]> {
  return page.evaluate<string[][]>(`[...document.querySelectorAll('table[aria-label="Spend by day"] tbody tr')]
    .map((tr) => [...tr.querySelectorAll('td')].map((cell) => cell.querySelector('data')?.getAttribute('value') ?? cell.textContent))`)
}

t.test('the AI budget page in a browser', async (t) => {
  const browser = await openBrowser(t)
  await forEachDatabase(t, async (t, { sql, driver }) => {
    const shots = screenshotsFor(driver)
    const fake = await startFakeOpenAI()
    t.teardown(() => fake.close())
    // Prices of one micro-unit a token make each cost its token count. Six sign-ins and two sign-ups from one address within a
    // minute: above the default limit, which is not under test here.
    const api = await openTestApp(t, sql, {
      ...assistantEnv(fake, { AI_PRICES: ONE_MICRO_PER_TOKEN, AI_MAX_OUTPUT_TOKENS: String(OUT) }), LOGIN_RATE_LIMIT_PER_MINUTE: '100'
    })
    const origin = await listening(api)
    const test = (name: string, fn: Parameters<typeof browserTest>[4]) => browserTest(t, name, browser, origin, fn)
    const owner = await ownerWithOrg(api, OWNER, 'Budget Co')
    const { orgId } = owner
    const member = await register(api, MEMBER, PASSWORD)
    await addMember(api.runtime.identity, { ...systemCommand('browser-test'), actor: { type: 'user', id: owner.userId } }, orgId,
      { userId: member.userId, roles: ['member'] })
    const budgetUrl = `/v1/orgs/${orgId}/ai/budget`
    const pagePath = `/app/orgs/${orgId}/ai-budget`
    /** One message in a new conversation of `token`'s user; with `promptTokens` the upstream answers, counting them in. */
    const ask = async (token: string, promptTokens?: number) => {
      if (promptTokens !== undefined) fake.enqueue({ text: ['Fine.'], usage: { prompt_tokens: promptTokens, completion_tokens: OUT } })
      const created = await api.call('POST', conversationsUrl(orgId), { token })
      if (created.statusCode !== 201) throw new Error(`conversation: ${created.body}`)
      const { conversationId } = created.json() as { conversationId: string }
      const response = await fetch(`${origin}${conversationsUrl(orgId)}/${conversationId}/messages`, {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'How are we doing?' })
      })
      return { status: response.status, body: await response.text() }
    }

    // Real spend through the assistant: 0.09005 and 0.06005 USD, settled into the month (within the free plan's tokens a day).
    for (const [token, tokens] of [[owner.token, 90_000], [member.token, 60_000]] as const) {
      const answered = await ask(token, tokens)
      if (answered.status !== 200) throw new Error(`message: ${answered.status} ${answered.body}`)
    }
    const spent = 90_000 + 60_000 + 2 * OUT
    await until(async () => {
      const budget = await read<Budget>(api, owner.token, budgetUrl)
      return budget.reservedMicros === 0 && budget.spentMicros === spent
    }, 'both responses settled into the month')
    const { month } = await read<Budget>(api, owner.token, budgetUrl)
    const today = new Date().toISOString().slice(0, 10)
    const usageUrl = `/v1/orgs/${orgId}/ai/usage?${new URLSearchParams({ from: `${month}-01`, to: today, groupBy: 'day' }).toString()}`
    await until(async () => (await read<{ totals: DayUsage }>(api, owner.token, usageUrl)).totals.costMicros === spent,
      'the usage read model')
    // The log's clock cannot be turned back: the member's day of the usage read model is moved to an earlier day of the month,
    // as if spent then, so the chart has two days. The month's total, what the budget counts, stays. Not on the 1st.
    const earlier = `${month}-${String(Math.max(1, Number(today.slice(8)) - 3)).padStart(2, '0')}`
    if (earlier !== today) {
      await sql.query('UPDATE ai_usage SET day = $3 WHERE org_id = $1 AND user_id = $2', [orgId, member.userId, earlier])
    }

    await test('the month\'s figures are the API\'s, and the chart has a point per day with spend, as the usage API counts it',
      async (t, open) => {
        const { page } = await open()
        await signIn(page, OWNER, `/app/orgs/${orgId}/members`)
        const before = await read<Budget>(api, owner.token, budgetUrl)
        await page.getByRole('link', { name: 'AI budget' }).click()
        await page.waitForURL(`**${pagePath}`)
        const shown = await facts(page)
        const after = await read<Budget>(api, owner.token, budgetUrl)
        t.same(pick(shown, ['State', 'Budget', 'Spent', 'Reserved', 'Plan', 'Thresholds']), {
          State: 'Active', Budget: String(before.budgetMicros), Spent: String(spent), Reserved: '0', Plan: String(before.planMicros),
          Thresholds: 'none crossed yet'
        }, 'state, budget, spent, reserved, the plan\'s budget and the thresholds as the API gives them')
        t.match(before, { state: 'active', budgetMicros: 10_000_000, spentMicros: spent, monthlyMicros: null, thresholdsCrossed: [] })
        const projected = Number(shown.Projected)
        t.ok(after.projectedMonthEndMicros <= projected && projected <= before.projectedMonthEndMicros,
          `the projection is the API's at the time it was read (${after.projectedMonthEndMicros} ≤ ${projected} ≤ ` +
          `${before.projectedMonthEndMicros}: it falls as the month goes on at the same spend)`)
        t.equal(await page.getByRole('alert').count(), 0, 'no banner while active')

        const usage = await read<{ items: DayUsage[] }>(api, owner.token, usageUrl)
        t.equal(usage.items.length, earlier === today ? 1 : 2, 'the usage API: a day per day with spend')
        const chart = page.getByRole('img', { name: `Spend in ${month} (UTC) against the budget` })
        await chart.waitFor()
        const language = await page.evaluate<string>('navigator.language')
        let total = 0
        const expected = usage.items.map((item) => {
          total += item.costMicros
          return { ...item, total }
        })
        t.same(await chart.locator('circle.day title').allTextContents(),
          expected.map((item) => `${item.day}: ${money(language, item.costMicros)} spent, ${money(language, item.total)} so far`),
          'one point per day with spend, its day\'s spend and the month\'s so far as the usage API counts them')
        t.match(await chart.locator('desc').textContent(), `${money(language, spent)} spent by ${today}, on ${expected.length} day`,
          'the description says the spend in words')
        await page.getByText('The figures, day by day').click()
        t.same(await spendRows(page), expected.map((item) => [item.day, item.costMicros, item.total, item.responses].map(String)),
          'the table under the chart holds the same figures')
        t.equal(total, spent, 'and the month\'s total is what the budget counts')
        await page.evaluate('window.scrollTo(0, 0)')
        await screenshot(page, 'dashboard-ai-budget', shots)
        t.same(await seriousViolations(page), [], 'no serious accessibility violation (axe-core)')
      })

    await test('a budget below what is spent blocks the organization and the banner says how it lifts; a higher one lifts it',
      async (t, open) => {
        const { page } = await open()
        await signIn(page, OWNER, pagePath)
        await page.getByLabel('Monthly budget (USD)').fill('0.1')
        await page.getByLabel('Reason').fill('The pilot is over')
        await page.getByRole('button', { name: 'Save' }).click()
        const banner = page.getByRole('alert').filter({ hasText: 'The assistant is blocked' })
        await banner.waitFor()
        const blocked = await read<Budget>(api, owner.token, budgetUrl)
        t.match(blocked, { state: 'blocked', monthlyMicros: 100_000, budgetMicros: 100_000, thresholdsCrossed: [50, 80, 100] },
          'the API: blocked, every threshold crossed')
        const text = (await banner.textContent())!
        const language = await page.evaluate<string>('navigator.language')
        const [year, index] = month.split('-').map(Number) as [number, number]
        const inWords = (options: Intl.DateTimeFormatOptions, monthIndex: number) =>
          new Intl.DateTimeFormat(language, { ...options, timeZone: 'UTC' }).format(new Date(Date.UTC(year, monthIndex, 1)))
        t.match(text, `blocked for the rest of ${inWords({ month: 'long', year: 'numeric' }, index - 1)}`,
          `the banner names the month (${text})`)
        t.match(text, `It lifts on ${inWords({ dateStyle: 'long' }, index)} (UTC), when a new month starts`, 'when it lifts by itself')
        t.match(text, /or as soon as the budget is raised/, 'and how to lift it now')
        t.same(pick(await facts(page), ['State', 'Budget', 'Thresholds']),
          { State: 'Blocked', Budget: '100000', Thresholds: '50%, 80%, 100% crossed' }, 'the figures follow')
        t.equal(await page.getByLabel('Reason').inputValue(), '', 'the reason is cleared for the next change')
        const refused = await ask(member.token)
        t.equal(refused.status, 402, 'the assistant refuses a message')
        t.match(JSON.parse(refused.body), { code: 'ai.budget_exhausted', blocked: true }, 'as blocked')
        await page.evaluate('window.scrollTo(0, 0)')
        await screenshot(page, 'dashboard-ai-budget-blocked', shots)
        t.same(await seriousViolations(page), [], 'blocked: no serious accessibility violation (axe-core)')

        await page.getByLabel('Monthly budget (USD)').fill('5')
        await page.getByLabel('Reason').fill('A second pilot')
        await page.getByRole('button', { name: 'Save' }).click()
        await banner.waitFor({ state: 'detached' })
        t.same(pick(await facts(page), ['State', 'Budget']), { State: 'Active', Budget: '5000000' }, 'raised: active again, the new budget')
        t.match(await read<Budget>(api, owner.token, budgetUrl), { state: 'active', monthlyMicros: 5_000_000 }, 'the API: active')
        t.equal(await page.getByRole('img').locator('text.budget').textContent(), `Budget ${money(language, 5_000_000)}`,
          'the chart\'s budget line moved')

        await page.getByLabel('Reason').fill('Back to the plan')
        await page.getByRole('button', { name: 'Use the plan\'s budget' }).click()
        await until(async () => (await facts(page)).Budget === '10000000', 'the plan\'s budget on the page')
        t.match(await read<Budget>(api, owner.token, budgetUrl), { monthlyMicros: null, budgetMicros: 10_000_000 }, 'the API: the plan\'s')
        t.equal(await page.getByRole('button', { name: 'Use the plan\'s budget' }).count(), 0, 'and nothing to go back to')
        const reasons = async () => (await read<{ items: Array<{ diff: { reason?: { after: string } } }> }>(api, owner.token,
          `/v1/orgs/${orgId}/audit-events?action=ai.budget.set&limit=10`)).items.map((row) => row.diff.reason?.after)
        await until(async () => (await reasons()).length === 3, 'the three changes in the audit log')
        t.same(await reasons(), ['Back to the plan', 'A second pilot', 'The pilot is over'],
          'each change is in the audit log with its reason')
      })

    await test('the reason is required; an amount the form cannot read, or the API refuses, shows why next to it', async (t, open) => {
      const { page } = await open()
      await signIn(page, OWNER, pagePath)
      const amount = page.getByLabel('Monthly budget (USD)')
      const reason = page.getByLabel('Reason')
      const save = page.getByRole('button', { name: 'Save' })
      const puts: string[] = []
      page.on('request', (request) => { if (request.method() === 'PUT') puts.push(request.url()) })

      await amount.fill('3')
      await save.click()
      const reasonError = page.locator('#budget-reason-error')
      await reasonError.waitFor()
      t.match(await reasonError.textContent(), /^Give a reason/, 'no reason: said next to the field')
      t.equal(await reason.getAttribute('aria-invalid'), 'true', 'which is marked invalid')
      t.not(await reason.getAttribute('required'), null, 'the field says it is required')
      await reason.fill('   ')
      await save.click()
      t.match(await reasonError.textContent(), /^Give a reason/, 'spaces are no reason either')
      t.same(puts, [], 'nothing sent')

      const amountError = page.locator('#budget-amount-error')
      await reason.fill('Trying amounts')
      await amount.fill('12,50')
      await save.click()
      await amountError.waitFor()
      t.match(await amountError.textContent(), /^Enter an amount/, 'an amount the form cannot read: said next to it, nothing sent')
      t.same(puts, [], 'nothing sent')

      await amount.fill('10.01')
      await save.click()
      await until(async () => (await amountError.textContent())?.includes('plan') === true, 'the API\'s detail')
      const tooMuch = await api.call('PUT', budgetUrl, { token: owner.token, body: { monthlyMicros: 10_010_000, reason: 'x' } })
      t.equal(tooMuch.statusCode, 400)
      t.equal(await amountError.textContent(), (tooMuch.json() as { detail: string }).detail,
        'above the plan\'s: the API\'s ai.invalid_budget detail next to the amount')
      t.equal(await amount.getAttribute('aria-invalid'), 'true', 'the amount is marked invalid')

      await amount.fill('-1')
      await save.click()
      const negative = await api.call('PUT', budgetUrl, { token: owner.token, body: { monthlyMicros: -1_000_000, reason: 'x' } })
      const { errors } = negative.json() as { errors: Array<{ message: string }> }
      await until(async () => (await amountError.textContent()) === errors[0]!.message, 'the schema\'s reason')
      t.pass(`below 0: the API's reason next to the amount (${errors[0]!.message})`)
      t.equal(puts.length, 2, 'the two the API refused were sent')
      t.match(await read<Budget>(api, owner.token, budgetUrl), { monthlyMicros: null }, 'and nothing changed')
      t.equal(await page.getByRole('status').filter({ hasText: 'Saved.' }).count(), 0, 'no "Saved."')
    })

    await test('a member without ai:manage has no link to the page, and opened directly it shows the API\'s 403', async (t, open) => {
      const { page } = await open()
      const access = page.waitForResponse((response) => response.url().includes('/access?action=ai%3Amanage'))
      await signIn(page, MEMBER, `/app/orgs/${orgId}/members`)
      t.equal((await access).status(), 200, 'the navigation asked who holds ai:manage')
      await page.getByRole('link', { name: 'Assistant' }).waitFor()
      t.equal(await page.getByRole('link', { name: 'AI budget' }).count(), 0, 'no link for a member')

      await page.goto(pagePath)
      const refusal = page.getByRole('alert')
      await refusal.waitFor()
      const forbidden = await api.call('GET', budgetUrl, { token: member.token })
      t.equal(forbidden.statusCode, 403)
      t.equal(await refusal.textContent(), (forbidden.json() as { detail: string }).detail, 'the API\'s 403 detail')
      t.match(await refusal.textContent(), /ai:manage/, 'naming the permission')
      t.equal(await page.getByLabel('Monthly budget (USD)').count(), 0, 'and no form')
      t.equal(await page.getByRole('img').count(), 0, 'nor chart')
    })

    await test('at 390 px the page, its banner and chart fit the window', async (t, open) => {
      const set = await api.call('PUT', budgetUrl, { token: owner.token, body: { monthlyMicros: 50_000, reason: 'Phone check' } })
      t.equal(set.statusCode, 200, set.body)
      const { page } = await open({ width: 390, height: 844 })
      await signIn(page, OWNER, pagePath)
      await page.getByRole('alert').filter({ hasText: 'The assistant is blocked' }).waitFor()
      await page.getByRole('img').waitFor()
      await page.getByText('The figures, day by day').click()
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
      t.ok(overflow <= 0, `nothing wider than the window (${overflow} px over)`)
      t.same(await seriousViolations(page), [], 'on a phone: no serious accessibility violation (axe-core)')
    })
  })
})

const pick = (record: Record<string, string>, keys: string[]) => Object.fromEntries(keys.map((key) => [key, record[key]]))

function money (language: string, micros: number): string {
  return new Intl.NumberFormat(language, { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 6 })
    .format(micros / 1_000_000)
}
