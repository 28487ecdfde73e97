/**
 * The Prometheus alert rules: promtool finds them valid and their unit tests
 * pass, and every alert has a unit test that fires it and one that does not.
 * Without promtool the first two are skipped on a laptop and fail in CI.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import t, { type Test } from 'tap'
import { parse } from 'yaml'
import { DEFAULT_RULES_FILE, REPO_ROOT, loadAlertRules } from '../src/ops/lib/alert-rules.ts'

const PROMETHEUS_DIR = join(REPO_ROOT, 'infra', 'prometheus')
const TEST_FILES = readdirSync(PROMETHEUS_DIR).filter((name) => name.endsWith('.test.yml')).sort().map((name) => join(PROMETHEUS_DIR, name))
const INSTALL_HINT = 'promtool is not installed: apt-get install prometheus'

const promtoolInstalled = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).error === undefined

function promtool (...args: string[]): { status: number | null, output: string } {
  const result = spawnSync('promtool', args, { cwd: REPO_ROOT, encoding: 'utf8' })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

/** Runs a promtool check, or explains why it cannot: skipped on a laptop, a failure in CI (which must install it). */
function withPromtool (name: string, check: (t: Test) => void): void {
  if (promtoolInstalled) {
    t.test(name, async (t) => check(t))
  } else if (process.env.CI === 'true') {
    t.test(name, async (t) => { t.fail(`${INSTALL_HINT}; CI must install it (.ci/run)`) })
  } else {
    t.test(name, { skip: INSTALL_HINT }, async () => {})
  }
}

withPromtool('promtool finds the alert rules valid', (t) => {
  const { status, output } = promtool('check', 'rules', relative(REPO_ROOT, DEFAULT_RULES_FILE))
  t.equal(status, 0, output)
  t.match(output, /SUCCESS: \d+ rules found/)
})

withPromtool('every promtool unit test of the alert rules passes', (t) => {
  t.ok(TEST_FILES.length > 0, 'infra/prometheus has *.test.yml files')
  const { status, output } = promtool('test', 'rules', ...TEST_FILES.map((file) => relative(REPO_ROOT, file)))
  t.equal(status, 0, output)
  t.match(output, /SUCCESS/)
  t.notMatch(output, /FAILED/)
})

interface AlertCase { eval_time: string, alertname: string,
  exp_alerts?: Array<{ exp_labels?: Record<string, string>, exp_annotations?: Record<string, string> }> }
interface UnitTest { name?: string, alert_rule_test?: AlertCase[] }

function unitCases (): Array<AlertCase & { test: string, file: string }> {
  return TEST_FILES.flatMap((file) => {
    const doc = parse(readFileSync(file, 'utf8')) as { tests?: UnitTest[] }
    return (doc.tests ?? []).flatMap((test, index) => (test.alert_rule_test ?? [])
      .map((c) => ({ ...c, test: test.name ?? `#${index + 1}`, file: relative(REPO_ROOT, file) })))
  })
}

t.test('every alert has a unit test that fires it and one that does not', async (t) => {
  const rules = loadAlertRules()
  const cases = unitCases()
  for (const rule of rules) {
    const own = cases.filter((c) => c.alertname === rule.alert)
    const firing = own.filter((c) => (c.exp_alerts ?? []).length > 0)
    t.ok(firing.length > 0, `${rule.alert} fires in a unit test`)
    t.ok(own.some((c) => (c.exp_alerts ?? []).length === 0), `${rule.alert} stays quiet in a unit test`)
    for (const c of firing) {
      for (const expected of c.exp_alerts ?? []) {
        t.equal(expected.exp_labels?.severity, rule.severity, `${c.file} "${c.test}" expects ${rule.alert}'s severity`)
        t.equal(expected.exp_annotations?.summary !== undefined, true, `${c.file} "${c.test}" checks ${rule.alert}'s summary`)
        t.equal(expected.exp_annotations?.runbook_url, rule.runbookUrl, `${c.file} "${c.test}" checks ${rule.alert}'s runbook_url`)
      }
    }
  }
  const known = new Set(rules.map((rule) => rule.alert))
  t.same(cases.filter((c) => !known.has(c.alertname)).map((c) => `${c.file} "${c.test}": ${c.alertname}`), [],
    'no unit test names an alert that does not exist')
})
