/**
 * The Prometheus alert rules in infra/prometheus/alerts.yml, read without
 * promtool: every alert must carry a severity, a summary and a runbook_url
 * that names an existing runbook and one of its headings. Used by the tests
 * and by `ledgerline preflight`; pure and synchronous.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

/** The repository's root, found from this file (src/ops/), not from the working directory. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const DEFAULT_RULES_FILE = join(REPO_ROOT, 'infra', 'prometheus', 'alerts.yml')
export const DEFAULT_RUNBOOKS_DIR = join(REPO_ROOT, 'runbooks')

export interface AlertRule {
  group: string
  alert: string
  expr: string
  for?: string
  severity?: string
  summary?: string
  runbookUrl?: string
}

/** Thrown by loadAlertRules when the file cannot be read as Prometheus rule groups. */
export class AlertRulesFileError extends Error {
  readonly code = 'ops.alert_rules_malformed'
}

export function loadAlertRules (file = DEFAULT_RULES_FILE): AlertRule[] {
  let doc: unknown
  try {
    doc = parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new AlertRulesFileError(`${file}: ${(error as Error).message.split('\n')[0]}`)
  }
  const groups = (doc as { groups?: unknown } | null)?.groups
  if (!Array.isArray(groups)) throw new AlertRulesFileError(`${file}: no "groups" list`)
  return groups.flatMap((group, g) => alertsOfGroup(file, group, g))
}

function alertsOfGroup (file: string, group: unknown, index: number): AlertRule[] {
  const { name, rules } = (group ?? {}) as { name?: unknown, rules?: unknown }
  if (typeof name !== 'string') throw new AlertRulesFileError(`${file}: group #${index + 1} has no name`)
  if (!Array.isArray(rules)) throw new AlertRulesFileError(`${file}: group ${name} has no "rules" list`)
  // Recording rules (`record:`) are not alerts.
  return rules.filter((rule) => (rule as { record?: unknown } | null)?.record === undefined)
    .map((rule) => toAlertRule(file, name, rule))
}

function toAlertRule (file: string, group: string, rule: unknown): AlertRule {
  const r = (rule ?? {}) as Record<string, unknown>
  const labels = (r.labels ?? {}) as Record<string, unknown>
  const annotations = (r.annotations ?? {}) as Record<string, unknown>
  if (typeof r.alert !== 'string' || r.alert === '') throw new AlertRulesFileError(`${file}: a rule in group ${group} has no alert name`)
  if (typeof r.expr !== 'string' && typeof r.expr !== 'number') throw new AlertRulesFileError(`${file}: alert ${r.alert} has no expr`)
  const alert: AlertRule = { group, alert: r.alert, expr: String(r.expr).trim() }
  if (typeof r.for === 'string') alert.for = r.for
  if (typeof labels.severity === 'string') alert.severity = labels.severity
  if (typeof annotations.summary === 'string') alert.summary = annotations.summary
  if (typeof annotations.runbook_url === 'string') alert.runbookUrl = annotations.runbook_url
  return alert
}

/**
 * The repository file (relative to the root, `/`-separated) and anchor a
 * runbook URL points at: `https://…/blob/<branch>/runbooks/x.md#anchor`, or a
 * plain relative `runbooks/x.md#anchor`. Undefined for anything else.
 */
export function runbookFileOf (url: string): { file: string, anchor?: string } | undefined {
  const hash = url.indexOf('#')
  const target = hash === -1 ? url : url.slice(0, hash)
  const anchor = hash === -1 ? undefined : decodeURIComponent(url.slice(hash + 1))
  let path: string | undefined
  const blob = /^https?:\/\/[^/]+\/[^/]+\/[^/]+\/blob\/[^/]+\/(.+)$/.exec(target)
  if (blob) path = blob[1]
  else if (!/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith('/')) path = target.replace(/^\.\//, '')
  if (path === undefined || path === '') return undefined
  const file = normalize(decodeURIComponent(path)).split(sep).join('/')
  if (file.startsWith('../')) return undefined
  return anchor === undefined || anchor === '' ? { file } : { file, anchor }
}

/** GitHub's anchors for a Markdown file's headings (outside code fences), duplicates numbered -1, -2… */
export function headingAnchors (markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  let fence: string | undefined
  for (const line of markdown.split(/\r?\n/)) {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1]
    if (marker !== undefined) {
      if (fence === undefined) fence = marker[0]
      else if (marker[0] === fence) fence = undefined
      continue
    }
    if (fence !== undefined) continue
    const text = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1]
    if (text === undefined) continue
    const slug = slugOf(text)
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    anchors.add(count === 0 ? slug : `${slug}-${count}`)
  }
  return anchors
}

function slugOf (heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link keeps its text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
    .replace(/\s/g, '-')
}

export function checkAlertRules (options: { rulesFile?: string, runbooksDir?: string } = {}): { alerts: AlertRule[], problems: string[] } {
  const rulesFile = options.rulesFile ?? DEFAULT_RULES_FILE
  const runbooksDir = options.runbooksDir ?? DEFAULT_RUNBOOKS_DIR
  let alerts: AlertRule[]
  try {
    alerts = loadAlertRules(rulesFile)
  } catch (error) {
    return { alerts: [], problems: [(error as Error).message] }
  }
  const problems: string[] = []
  const names = new Set<string>()
  for (const alert of alerts) {
    if (names.has(alert.alert)) problems.push(`${alert.alert}: defined twice`)
    names.add(alert.alert)
    if (!alert.severity) problems.push(`${alert.alert}: no labels.severity`)
    if (!alert.summary) problems.push(`${alert.alert}: no annotations.summary`)
    if (!alert.runbookUrl) problems.push(`${alert.alert}: no annotations.runbook_url`)
    else problems.push(...runbookProblems(alert, runbooksDir))
  }
  return { alerts, problems }
}

function runbookProblems (alert: AlertRule, runbooksDir: string): string[] {
  const url = alert.runbookUrl ?? ''
  const target = runbookFileOf(url)
  if (!target) return [`${alert.alert}: runbook_url ${url} does not name a file in the repository`]
  const path = localPathOf(target.file, runbooksDir)
  if (!existsSync(path)) return [`${alert.alert}: runbook ${target.file} does not exist (${path})`]
  if (target.anchor === undefined) return []
  const anchors = headingAnchors(readFileSync(path, 'utf8'))
  return anchors.has(target.anchor) ? [] : [`${alert.alert}: runbook ${target.file} has no heading #${target.anchor}`]
}

/** runbooks/… resolves inside runbooksDir (tests point it elsewhere); any other path from the root. */
function localPathOf (file: string, runbooksDir: string): string {
  return file.startsWith('runbooks/') ? join(runbooksDir, file.slice('runbooks/'.length)) : join(REPO_ROOT, file)
}
