/**
 * The dashboard in a real browser: Debian's chromium driven by
 * playwright-core, against a real listening server (an openTestApp on the
 * database under test). One browser per test file, a fresh context (its own
 * cookies) per user. Every page is watched: a Content-Security-Policy
 * violation, an uncaught error or a console error fails the test that opened
 * the page, with what the browser said.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core'
import type { Test } from 'tap'
import { ensureWebBuilt } from '../../web/ensure-built.ts'
import type { TestApp } from './app.ts'
import { register } from './http.ts'

export const CHROMIUM = '/usr/bin/chromium'
export const SCREENSHOTS = new URL('../../docs/images/', import.meta.url)

/** Reported by the page itself: the event fires for every violation, whatever the console says. */
const WATCH_CSP = `document.addEventListener('securitypolicyviolation', (event) => {
  console.error('CSP violation: ' + event.violatedDirective + ' blocked ' + (event.blockedURI || 'inline code'))
})`

/** Opens one browser for the file (built dashboard first); closed when the file's test ends. */
export async function openBrowser (t: Test): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (the CI script installs it)`)
  await ensureWebBuilt()
  // Root in a container has no user namespace for the sandbox; the pages are our own.
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
  t.teardown(() => browser.close())
  return browser
}

/** Listens on a free local port; the origin the browser uses. */
export async function listening (api: TestApp): Promise<string> {
  return api.app.listen({ host: '127.0.0.1', port: 0 })
}

export interface Watched { page: Page, context: BrowserContext, problems: string[] }
export type OpenPage = (viewport?: { width: number, height: number }) => Promise<Watched>

/**
 * A subtest whose pages are watched: each opened by `open` in a context of
 * its own (one user's cookies). When the subtest's function returns, any CSP
 * violation, page error or console error one of them saw fails it; a test
 * that provokes one on purpose empties that page's `problems` itself.
 */
export function browserTest (t: Test, name: string, browser: Browser, origin: string,
  fn: (t: Test, open: OpenPage) => Promise<void>): Promise<void> {
  return t.test(name, async (t) => {
    const opened: Watched[] = []
    await fn(t, async (viewport = { width: 1280, height: 800 }) => {
      const watched = await watchedPage(browser, origin, viewport)
      t.teardown(() => watched.context.close())
      opened.push(watched)
      return watched
    })
    for (const { problems } of opened) t.same(problems, [], 'no CSP violation, page error or console error')
  }).then(() => undefined)
}

async function watchedPage (browser: Browser, origin: string, viewport: { width: number, height: number }): Promise<Watched> {
  const context = await browser.newContext({ baseURL: origin, viewport })
  await context.addInitScript(WATCH_CSP)
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error' && !expectedRefusal(message.text())) problems.push(`console: ${message.text()}`)
  })
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  return { page, context, problems }
}

/**
 * The browser logs every 4xx a fetch gets as a console error; the refusals a
 * test provokes on purpose (a wrong password, a session that ended) are not
 * failures. A 404 is: a missing file of the dashboard. A CSP violation never matches.
 */
function expectedRefusal (text: string): boolean {
  return /^Failed to load resource: the server responded with a status of (400|401|403|409|422)/.test(text)
}

/** Whether this database's run saves README's screenshots: asked for (DASHBOARD_SCREENSHOTS=1), and on PGlite only, once per run. */
export function screenshotsFor (driver: 'pglite' | 'postgres'): boolean {
  return driver === 'pglite' && process.env.DASHBOARD_SCREENSHOTS === '1'
}

/** Saves a screenshot for README (docs/images/<name>.png), once per run: on the first database only. */
export async function screenshot (page: Page, name: string, take: boolean): Promise<void> {
  if (!take) return
  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: new URL(`${name}.png`, SCREENSHOTS).pathname, fullPage: false })
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

/**
 * The page's serious and critical accessibility violations by axe-core, as
 * `rule: element, element`. axe runs in the page through the driver, not as
 * a script tag, so the page's CSP stays as strict as users get it.
 */
export async function seriousViolations (page: Page): Promise<string[]> {
  if (!(await page.evaluate('typeof window.axe === "object"'))) await page.evaluate(AXE)
  return page.evaluate<string[]>(`axe.run(document, { resultTypes: ['violations'] }).then((result) => result.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => violation.id + ': ' + violation.nodes.map((node) => node.target.join(' ')).join(', ')))`)
}

/** The password every browser test's users sign in with. */
export const PASSWORD = 'correct horse battery'

/** An owner who signs in with a password, and their organization. */
export async function ownerWithOrg (api: TestApp, email: string, name: string): Promise<{ userId: string, orgId: string, token: string }> {
  const { userId, token } = await register(api, email, PASSWORD)
  const created = await api.call('POST', '/v1/orgs', { token, body: { name } })
  if (created.statusCode !== 201) throw new Error(`org: ${created.body}`)
  return { userId, token, orgId: (created.json() as { orgId: string }).orgId }
}

/** Signs in on the sign-in page, which then opens `to` (an /app/… path without a query). */
export async function signIn (page: Page, email: string, to: string): Promise<void> {
  await page.goto(`/app/sign-in?next=${encodeURIComponent(to.replace(/^\/app/, ''))}`)
  await page.getByLabel('E-mail', { exact: true }).fill(email)
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(`**${to}`)
}

export async function waitForCount (locator: Locator, count: number): Promise<void> {
  await until(async () => (await locator.count()) === count, `${count} rows`)
}

/** Polls `check` every 50 ms, for 10 s at most. */
export async function until (check: () => boolean | Promise<boolean>, what = 'the condition'): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`waited 10 s for ${what}`)
}
