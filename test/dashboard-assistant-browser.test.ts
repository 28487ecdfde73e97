/**
 * The dashboard's assistant page in Debian's chromium against a real
 * listening server whose model is the fake OpenAI upstream, on PGlite and on
 * PostgreSQL: an answer arrives in parts; a tool loop shows the call, its
 * input and output; a call that needs approval waits, and Approve runs it
 * and the answer continues (a tab opened meanwhile resumes the continuation
 * without an error); Stop ends a response mid-stream; a page reloaded
 * while a response streams (sent from another tab) resumes it and shows it
 * once; a conversation reads back whole at 390 px; and a server without a
 * model shows the API's 503 detail. axe-core checks the pages.
 */
import t from 'tap'
import type { Page } from 'playwright-core'
import { addMember } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { assistantEnv, secondNode } from './helpers/assistant.ts'
import {
  browserTest, listening, openBrowser, ownerWithOrg, PASSWORD, screenshot, screenshotsFor, seriousViolations, signIn, until
} from './helpers/browser.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import { register } from './helpers/http.ts'

const EMAIL = 'ada@assistant.example'

/** The text of the page's last answer. */
async function answer (page: Page): Promise<string> {
  const last = page.locator('ol.chat > li.message.assistant').last()
  if ((await last.count()) === 0) return ''
  return (await last.locator('p.text').allTextContents()).join('')
}

async function answerIs (page: Page, text: string): Promise<void> {
  await until(async () => (await answer(page)) === text, `the answer "${text}"`)
}

/** A pause for a fake turn (`holdAfterChunks`): the stream goes on when the test calls `release`. */
function held (): { release: () => void, promise: Promise<void> } {
  let release = (): void => {}
  const promise = new Promise<void>((resolve) => { release = resolve })
  return { release, promise }
}

async function newConversation (page: Page): Promise<string> {
  await page.getByRole('button', { name: 'New conversation' }).click()
  await until(() => new URL(page.url()).searchParams.has('conversation'), 'the new conversation in the address')
  await page.getByLabel('Message', { exact: true }).waitFor()
  return new URL(page.url()).searchParams.get('conversation')!
}

async function send (page: Page, text: string): Promise<void> {
  await page.getByLabel('Message', { exact: true }).fill(text)
  await page.getByRole('button', { name: 'Send' }).click()
}

async function isMember (api: TestApp, token: string, orgId: string, userId: string): Promise<boolean> {
  const page = await api.call('GET', `/v1/orgs/${orgId}/members?limit=200`, { token })
  return (page.json() as { items: Array<{ userId: string }> }).items.some((member) => member.userId === userId)
}

t.test('the assistant page in a browser', async (t) => {
  const browser = await openBrowser(t)
  await forEachDatabase(t, async (t, { sql, driver }) => {
    const shots = screenshotsFor(driver)
    const fake = await startFakeOpenAI()
    t.teardown(() => fake.close())
    const api = await openTestApp(t, sql, assistantEnv(fake))
    const origin = await listening(api)
    const test = (name: string, fn: Parameters<typeof browserTest>[4]) => browserTest(t, name, browser, origin, fn)
    const owner = await ownerWithOrg(api, EMAIL, 'Assist Co')
    const leaver = await register(api, 'lee@assistant.example', PASSWORD)
    await addMember(api.runtime.identity, { ...systemCommand('browser-test'), actor: { type: 'user', id: owner.userId } }, owner.orgId,
      { userId: leaver.userId, roles: ['member'] })
    const assistantPath = `/app/orgs/${owner.orgId}/assistant`
    let toolConversation = ''

    await test('an answer streams in parts, and a tool loop shows the call with its input and output', async (t, open) => {
      const { page } = await open()
      await signIn(page, EMAIL, `/app/orgs/${owner.orgId}/members`)
      await page.getByRole('link', { name: 'Assistant' }).click()
      await page.getByRole('heading', { name: 'Assistant', level: 1 }).waitFor()
      toolConversation = await newConversation(page)

      const pause = held()
      fake.enqueue({ text: ['Hello ', 'from ', 'the ', 'assistant.'], holdAfterChunks: 2, release: pause.promise })
      await send(page, 'Hi')
      await answerIs(page, 'Hello from ')
      t.ok(await page.getByText('Answering…').isVisible(), 'the first words show while the answer streams')
      t.same(await page.locator('ol.chat > li.message.user p.text').allTextContents(), ['Hi'], 'the question shows above it')
      pause.release()
      await answerIs(page, 'Hello from the assistant.')
      await page.getByRole('button', { name: 'Stop' }).waitFor({ state: 'detached' })
      t.equal(await page.getByText('Answering…').count(), 0, 'then the rest, and the answer has ended')

      fake.enqueue(
        { toolCalls: [{ id: 'call_org', name: 'org__get', arguments: '{}', pieces: 2 }] },
        { text: ['Your organization ', 'is Assist Co.'], chunkDelayMs: 100 })
      await send(page, 'Which organization is this?')
      await answerIs(page, 'Your organization is Assist Co.')
      const tool = page.getByRole('group', { name: 'Tool org.get' })
      t.equal(await tool.count(), 1, 'the call shows once')
      t.equal(await tool.locator('dd').first().textContent(), '{}', 'with its input')
      await until(async () => (await tool.locator('dt').allTextContents()).includes('Output'), 'the tool\'s output')
      const output = JSON.parse((await tool.locator('dd').nth(1).textContent())!) as { orgId: string, name: string }
      t.match(output, { orgId: owner.orgId, name: 'Assist Co' }, 'and the output the tool gave the model')
      const last = page.locator('ol.chat > li.message.assistant').last()
      const pieces = last.locator('.tool, p.text')
      const order: Array<string | null> = []
      for (let i = 0; i < await pieces.count(); i++) order.push(await pieces.nth(i).getAttribute('class'))
      t.same(order, ['tool', 'text'], 'the call comes before the answer that used it')
      t.same(await seriousViolations(page), [], 'the assistant: no serious accessibility violation (axe-core)')
    })

    await test('a call that needs approval waits; Approve runs it and the answer continues', async (t, open) => {
      const { page } = await open()
      await signIn(page, EMAIL, assistantPath)
      const conversationId = await newConversation(page)
      fake.enqueue({ toolCalls: [{ id: 'call_rm', name: 'members__remove', arguments: JSON.stringify({ userId: leaver.userId }) }] })
      await send(page, 'Remove Lee.')
      const tool = page.getByRole('group', { name: 'Tool members.remove' })
      const approve = tool.getByRole('button', { name: 'Approve' })
      await approve.waitFor()
      t.match(await tool.locator('dd').first().textContent(), leaver.userId, 'the call shows its input')
      // The button shows as soon as the call's approval request streams; the ending comes with the response's end after it.
      const waiting = page.getByRole('status').filter({ hasText: 'Waiting for your approval.' })
      await waiting.waitFor()
      t.equal(await waiting.count(), 1, 'the answer waits')
      t.ok(await isMember(api, owner.token, owner.orgId, leaver.userId), 'nothing ran yet')
      await screenshot(page, 'dashboard-assistant', shots)
      t.same(await seriousViolations(page), [], 'an approval: no serious accessibility violation (axe-core)')

      const pause = held()
      fake.enqueue({ text: ['Lee ', 'is removed.'], holdAfterChunks: 1, release: pause.promise })
      await approve.click()
      await answerIs(page, 'Lee ')
      // Another tab opens the conversation while the continuation streams, and resumes it.
      const other = (await open()).page
      await signIn(other, EMAIL, assistantPath)
      await other.goto(`${assistantPath}?conversation=${conversationId}`)
      await answerIs(other, 'Lee ')
      const otherTool = other.getByRole('group', { name: 'Tool members.remove' })
      t.equal(await otherTool.locator('.chip').textContent(), 'decided', 'the other tab shows the call decided, its outcome to come')
      t.equal(await otherTool.getByRole('button', { name: 'Approve' }).count(), 0, 'with nothing left to approve')
      pause.release()
      await answerIs(page, 'Lee is removed.')
      await page.getByText('Answering…').waitFor({ state: 'detached' })
      await answerIs(other, 'Lee is removed.')
      await other.getByText('Answering…').waitFor({ state: 'detached' })
      t.equal(await otherTool.locator('.chip').textContent(), 'done', 'once it has ended, the other tab shows the call done')
      t.equal(await other.getByRole('alert').count(), 0, 'the resumed continuation raised no error')
      t.equal(await tool.count(), 1, 'the call still shows once, in the same answer')
      t.equal(await tool.getByRole('button', { name: 'Approve' }).count(), 0, 'no more buttons')
      t.equal(await tool.locator('.chip').textContent(), 'done', 'the call is done')
      await until(async () => !(await isMember(api, owner.token, owner.orgId, leaver.userId)), 'Lee removed')
      t.pass('the approved call ran: Lee is no longer a member')
    })

    await test('Stop ends a response mid-stream and the page says it stopped', async (t, open) => {
      const { page } = await open()
      await signIn(page, EMAIL, assistantPath)
      await newConversation(page)
      const before = fake.requests.length
      fake.enqueue({ text: ['One, ', 'two, ', 'three, ', 'never'], stallAfterChunks: 3 })
      await send(page, 'Count.')
      await answerIs(page, 'One, two, three, ')
      await page.getByRole('button', { name: 'Stop' }).click()
      await page.getByRole('status').filter({ hasText: 'Stopped.' }).waitFor()
      t.equal(await answer(page), 'One, two, three, ', 'what streamed stays')
      t.equal(await page.getByRole('button', { name: 'Stop' }).count(), 0, 'no Stop once it has stopped')
      await fake.until((requests) => requests[before]?.aborted === true)
      t.pass('the upstream request was aborted')
    })

    await test('a page reloaded while a response streams resumes it and shows it once', async (t, open) => {
      const sender = (await open()).page
      const reader = (await open()).page
      await signIn(sender, EMAIL, assistantPath)
      await signIn(reader, EMAIL, assistantPath)
      const conversationId = await newConversation(sender)
      const pause = held()
      fake.enqueue({ text: ['One ', 'two ', 'three ', 'four ', 'five.'], holdAfterChunks: 3, release: pause.promise, chunkDelayMs: 50 })
      await send(sender, 'Count to five.')
      await answerIs(sender, 'One two three ')
      await reader.goto(`${assistantPath}?conversation=${conversationId}`)
      await answerIs(reader, 'One two three ')
      await reader.reload()
      await answerIs(reader, 'One two three ')
      t.ok(await reader.getByRole('button', { name: 'Stop' }).isVisible(), 'after the reload the page follows the answer still streaming')
      pause.release()
      await answerIs(sender, 'One two three four five.')
      await answerIs(reader, 'One two three four five.')
      t.pass('and shows the rest, every word once')
      t.equal(await reader.locator('ol.chat > li.message.assistant').count(), 1, 'in one answer')
      await reader.getByRole('button', { name: 'Stop' }).waitFor({ state: 'detached' })
      t.equal(await answer(reader), 'One two three four five.', 'as stored, once the answer has ended')
    })

    await test('at 390 px a conversation reads back whole and fits the window', async (t, open) => {
      const { page } = await open({ width: 390, height: 844 })
      await signIn(page, EMAIL, `${assistantPath}?conversation=${toolConversation}`)
      const tool = page.getByRole('group', { name: 'Tool org.get' })
      await tool.waitFor()
      t.same(await page.locator('ol.chat > li.message.assistant p.text').allTextContents(),
        ['Hello from the assistant.', 'Your organization is Assist Co.'], 'both answers, as stored')
      t.match(await tool.locator('dd').nth(1).textContent(), 'Assist Co', 'the tool call with its output')
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
      t.ok(overflow <= 0, `nothing wider than the window (${overflow} px over)`)
      t.same(await seriousViolations(page), [], 'the assistant on a phone: no serious accessibility violation (axe-core)')
    })

    const unconfigured = await secondNode(t, sql, {})
    await browserTest(t, 'without a model, sending shows the API\'s 503 detail', browser, unconfigured.url, async (t, open) => {
      const { page, problems } = await open()
      await signIn(page, EMAIL, assistantPath)
      await newConversation(page)
      await send(page, 'Anyone there?')
      const alert = page.getByRole('alert')
      await alert.waitFor()
      t.equal(await alert.textContent(), 'the assistant has no model configured (OPENAI_API_KEY is not set)', 'the problem\'s detail')
      const box = page.getByLabel('Message', { exact: true })
      await until(async () => (await box.inputValue()) === 'Anyone there?', 'the message back in its box')
      t.pass('the message goes back into the box')
      await until(async () => (await page.locator('ol.chat > li.message').count()) === 0, 'the refused message out of the list')
      t.equal(await page.locator('ol.chat > li.message').count(), 0, 'and is not shown as sent')
      // The browser logs the refusal it was sent on purpose as a console error.
      const refused = problems.filter((problem) => /status of 503/.test(problem))
      t.equal(refused.length, 1, 'one 503')
      problems.splice(0, problems.length, ...problems.filter((problem) => !refused.includes(problem)))
    })
  })
})
