/**
 * `ledgerline ai budgets`: the organizations burning their AI budget fastest,
 * highest first, as `GET /v1/admin/ai/budgets` lists them (the same
 * application function): what on-call runs when a burn-rate alert fires
 * (`--over 14.4x`, `--over 6x`, `--over 1x` ask for the rule the alert is
 * about). The read waits until the `ai_spend` and `identity` read models have
 * applied the log as it is now, like `ledgerline jobs`.
 */
import type { Command } from 'commander'
import { burnPage, type OrgBurn } from '../../application/assistant/burn-rates.ts'
import { BURN_WINDOWS, burnSelection, parseFactor, type BurnSelection, type BurnWindow } from '../../domain/assistant/burn-rate.ts'
import type { Runtime } from '../../runtime.ts'
import { print, toJson, withRuntime } from '../context.ts'

const MAX_LIST = 10_000

interface BudgetsOptions { over?: string, window?: string, limit: number, json?: boolean }

async function caughtUp (runtime: Runtime): Promise<void> {
  runtime.runner.start()
  const everything = await runtime.store.committedHeadPosition()
  await runtime.runner.waitFor(everything, Math.max(runtime.config.consistencyTimeoutMs, 60_000), ['ai_spend', 'identity'])
}

const usd = (micros: number): string => `$${(micros / 1e6).toFixed(2)}`
const rate = (burn: number): string => `${burn.toFixed(2)}x`

const HEADER = ['ORGANIZATION', 'NAME', 'PLAN', 'BUDGET', 'SPENT', 'STATE', ...BURN_WINDOWS, 'RULES']

function row (org: OrgBurn): string[] {
  return [org.orgId, org.name.slice(0, 30), org.plan, usd(org.budgetMicros), usd(org.spentMicros), org.blocked ? 'blocked' : 'active',
    ...BURN_WINDOWS.map((window) => rate(org.burnRates[window])), org.rulesTripped.join(',') || '-']
}

/** Columns padded to their widest cell; numbers right-aligned. */
function table (rows: string[][]): string {
  const widths = HEADER.map((_, column) => Math.max(...rows.map((cells) => cells[column]!.length)))
  const right = (column: number): boolean => column >= 3 && column < HEADER.length - 1 && HEADER[column] !== 'STATE'
  return rows.map((cells) => cells.map((cell, column) => (right(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
    .join('  ').trimEnd()).join('\n')
}

function describe (selection: BurnSelection): string {
  if (selection.rule !== null) return `trips ${selection.rule}`
  return selection.factor === 0 ? `spent in the last ${selection.window}` : `burns over ${selection.factor}x over ${selection.window}`
}

function selectionOf (command: Command, options: BudgetsOptions): BurnSelection {
  const usage = (message: string): never => command.error(message, { exitCode: 2 })
  const factor = options.over === undefined ? 0 : parseFactor(options.over)
  if (factor === undefined) usage(`--over must be a factor above 0, such as 14.4x, 6x or 1x: ${JSON.stringify(options.over?.slice(0, 40))}`)
  if (options.window !== undefined && !(BURN_WINDOWS as readonly string[]).includes(options.window)) {
    usage(`--window must be one of ${BURN_WINDOWS.join(', ')}`)
  }
  if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > MAX_LIST) {
    usage(`--limit must be a whole number from 1 to ${MAX_LIST}`)
  }
  return burnSelection(factor!, options.window as BurnWindow | undefined)
}

export function aiCommand (program: Command): void {
  const group = program.command('ai').description('the assistant: AI budgets')

  const budgets = group.command('budgets')
    .description('organizations by AI budget burn rate, highest first, with the rules they trip (docs/ai-budgets.md)')
    .option('--over <factor>', 'burn above this factor; 14.4x, 6x and 1x without --window ask for page_1h, page_6h, ticket_3d')
    .option('--window <window>', `${BURN_WINDOWS.join(', ')} (1h when --over is not a rule's factor)`)
    .option('--limit <n>', `at most this many (1 to ${MAX_LIST})`, (value) => (/^\d{1,9}$/.test(value) ? Number(value) : Number.NaN), 50)
    .option('--json', 'print {"over", "window", "rule", "evaluatedAt", "items": [...]}')
    .action(async (options: BudgetsOptions) => {
      const selection = selectionOf(budgets, options)
      const page = await withRuntime(async (runtime) => {
        await caughtUp(runtime)
        return burnPage({ sql: runtime.sql, plans: runtime.config.ai.budgets.plans }, { selection, limit: options.limit }, new Date())
      })
      const answer = { over: selection.factor === 0 ? null : selection.factor, window: selection.window, rule: selection.rule,
        evaluatedAt: page.evaluatedAt.toISOString(), items: page.items }
      if (options.json === true) print(toJson(answer))
      else if (page.items.length === 0) print(`no organization ${describe(selection)} at ${answer.evaluatedAt}`)
      else {
        print(table([HEADER, ...page.items.map(row)]))
        if (page.next !== undefined) print(`(more: --limit ${options.limit} reached)`)
      }
    })
}
