/**
 * `ledgerline ai budgets`, in process on the test's runtime (PGlite and
 * PostgreSQL): the same list as GET /v1/admin/ai/budgets, as a table and as
 * JSON; bad flags refused with exit status 2 before anything is opened.
 */
import t from 'tap'
import { openTestApp } from './helpers/app.ts'
import { burningOrgs, writeLog } from './helpers/ai-burn.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { ledgerline } from './helpers/ledgerline.ts'

await forEachDatabase(t, async (t, { sql }) => {
  const { runtime } = await openTestApp(t, sql)

  await t.test('with no organization spending, it says so', async (t) => {
    const none = await ledgerline(runtime, ['ai', 'budgets', '--over', '14.4x'])
    t.equal(none.code, 0, none.stderr)
    t.match(none.stdout, /^no organization trips page_1h at \d{4}-\d\d-\d\dT/)
    const json = await ledgerline(runtime, ['ai', 'budgets', '--json'])
    t.match(JSON.parse(json.stdout), { over: null, window: '1h', rule: null, items: [] })
  })

  await writeLog(runtime.sql, burningOrgs())
  await settled(runtime)

  await t.test('--over 6x lists the organizations tripping page_6h as a table; --json prints the route\'s list', async (t) => {
    const text = await ledgerline(runtime, ['ai', 'budgets', '--over', '6x'])
    t.equal(text.code, 0, text.stderr)
    const [header, ...lines] = text.stdout.trimEnd().split('\n')
    t.match(header, /^ORGANIZATION\s+NAME\s+PLAN\s+BUDGET\s+SPENT\s+STATE\s+5m\s+30m\s+1h\s+6h\s+3d\s+RULES$/)
    t.equal(lines.length, 1)
    t.match(lines[0], /^org_high\s+Org org_high\s+free\s+\$10\.00\s+\$0\.00\s+active\s+0\.00x\s+\d+\.\d\dx\s.*page_6h$/)
    const json = await ledgerline(runtime, ['ai', 'budgets', '--over', '1x', '--window', '6h', '--json'])
    t.equal(json.code, 0, json.stderr)
    const answer = JSON.parse(json.stdout) as { items: Array<{ orgId: string, budgetMicros: number, rulesTripped: string[] }> }
    t.match(answer, { over: 1, window: '6h', rule: null })
    t.same(answer.items.map((item) => item.orgId), ['org_high', 'org_fast', 'org_steady'])
    t.match(answer.items[1], { orgId: 'org_fast', budgetMicros: 10_000_000, rulesTripped: ['page_1h'] })
    const one = await ledgerline(runtime, ['ai', 'budgets', '--window', '3d', '--limit', '1'])
    t.match(one.stdout, /^ORGANIZATION.*\norg_steady .*ticket_3d\n\(more: --limit 1 reached\)\n$/)
  })

  await t.test('bad flags exit 2', async (t) => {
    for (const args of [['--over', '0'], ['--over', 'fast'], ['--over', '-1'], ['--window', '2h'], ['--limit', '0'], ['--limit', 'many'],
      ['--limit', '10001']]) {
      const run = await ledgerline(runtime, ['ai', 'budgets', ...args])
      t.equal(run.code, 2, `${args.join(' ')}: ${run.stderr.trim()}`)
    }
  })
})
