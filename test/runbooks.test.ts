/**
 * The runbooks an alert sends on-call to: every alert's runbook_url names an
 * existing heading, every runbook follows runbooks/TEMPLATE.md, every command
 * it tells someone to type exists, and every runbook can be found.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import t from 'tap'
import { buildProgram } from '../src/cli/main.ts'
import { DEFAULT_RUNBOOKS_DIR, REPO_ROOT, checkAlertRules, runbookFileOf } from '../src/ops/lib/alert-rules.ts'

/** The sections every scenario of a runbook has, in this order (TEMPLATE.md). */
const SECTIONS = ['Symptom', 'Alert(s)', 'Impact', 'Diagnosis', 'Mitigation', 'Verification', 'Escalation']
const NOT_RUNBOOKS = new Set(['README.md', 'TEMPLATE.md'])

const runbooks = readdirSync(DEFAULT_RUNBOOKS_DIR).filter((name) => name.endsWith('.md') && !NOT_RUNBOOKS.has(name)).sort()
const read = (name: string): string => readFileSync(join(DEFAULT_RUNBOOKS_DIR, name), 'utf8')

interface Heading { level: number, text: string }

function headings (markdown: string): Heading[] {
  const found: Heading[] = []
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced
    const match = fenced ? null : /^(#{1,6})\s+(.*?)\s*$/.exec(line)
    if (match) found.push({ level: match[1]!.length, text: match[2]! })
  }
  return found
}

/** Each `##` scenario with the `###` sections under it; scenarios without sections are background. */
function scenarios (markdown: string): Array<{ title: string, sections: string[] }> {
  const result: Array<{ title: string, sections: string[] }> = []
  for (const heading of headings(markdown)) {
    if (heading.level === 2) result.push({ title: heading.text, sections: [] })
    else if (heading.level === 3) result.at(-1)?.sections.push(heading.text)
  }
  return result.filter((scenario) => scenario.sections.length > 0)
}

t.test('every alert links to an existing runbook heading', async (t) => {
  const { alerts, problems } = checkAlertRules()
  t.ok(alerts.length > 0, 'alerts.yml has alerts')
  t.same(problems, [], 'no problems with severities, summaries or runbook links')
})

t.test('the template itself has every section', async (t) => {
  const template = scenarios(readFileSync(join(DEFAULT_RUNBOOKS_DIR, 'TEMPLATE.md'), 'utf8'))
  t.same(template[0]?.sections, SECTIONS)
})

t.test('every runbook follows the template', async (t) => {
  for (const name of runbooks) {
    const found = scenarios(read(name))
    t.ok(found.length > 0, `${name} has at least one scenario with the template's sections`)
    for (const scenario of found) {
      t.same(scenario.sections, SECTIONS, `${name}: "${scenario.title}" has ${SECTIONS.join(', ')}, in that order`)
    }
  }
})

/** The commands a runbook shows: the lines of its code blocks, and inline code spans. */
function commandsIn (markdown: string): string[] {
  const lines: string[] = []
  for (const block of markdown.matchAll(/^\s*```[^\n]*\n([\s\S]*?)^\s*```/gm)) lines.push(...block[1]!.split('\n'))
  const prose = markdown.replace(/^\s*```[^\n]*\n[\s\S]*?^\s*```/gm, '')
  for (const span of prose.matchAll(/`([^`\n]+)`/g)) lines.push(span[1]!)
  // A line may chain commands: `a | b`, `a && b`, `$(a)`.
  return lines.flatMap((line) => line.replace(/\s#\s.*$/, '').split(/\|\||&&|[|;()]|\$\(/)).map((part) => part.trim())
}

/** Shell words, quotes removed; placeholders such as <orgId> stay one word. */
function words (command: string): string[] {
  return [...command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!)
}

const program = buildProgram()

/** What is wrong with `ledgerline <args>` against the real command tree, if anything. */
function problemOf (args: string[]): string | undefined {
  let command: Command = program
  const path = ['ledgerline']
  for (const word of args) {
    if (word.startsWith('>') || word.startsWith('<<')) break
    if (word.startsWith('-')) {
      if (!word.startsWith('--') || word === '--help') continue
      const flag = word.split('=')[0]!
      if (!command.options.some((option) => option.long === flag)) return `${path.join(' ')} has no option ${flag}`
      continue
    }
    if (command.commands.length === 0) continue // an argument
    const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word))
    if (sub === undefined) return `${path.join(' ')} has no subcommand ${word}`
    command = sub
    path.push(word)
  }
  return undefined
}

const scripts = Object.keys(
  (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts)

t.test('every command a runbook names exists', async (t) => {
  for (const name of [...runbooks, 'TEMPLATE.md']) {
    for (const command of commandsIn(read(name))) {
      const shell = words(command)
      const at = shell.findIndex((word, index) => word === 'ledgerline' || (word === 'npm' && shell[index + 1] === 'run'))
      if (at === -1) continue
      if (shell[at] === 'npm') {
        const script = shell[at + 2]
        t.ok(script !== undefined && scripts.includes(script), `${name}: npm run ${script ?? ''} is a script in package.json`)
      } else {
        const problem = problemOf(shell.slice(at + 1))
        t.ok(problem === undefined, `${name}: ${command}${problem === undefined ? '' : ` (${problem})`}`)
      }
    }
  }
})

t.test('every runbook is linked from an alert or from runbooks/README.md', async (t) => {
  const fromAlerts = checkAlertRules().alerts.map((alert) => runbookFileOf(alert.runbookUrl ?? '')?.file)
  const index = read('README.md')
  for (const name of runbooks) {
    const linked = fromAlerts.includes(`runbooks/${name}`) || index.includes(`](${name})`) || index.includes(`](./${name})`)
    t.ok(linked, `${name} is linked from an alert or the README index`)
  }
})
