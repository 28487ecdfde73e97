/**
 * Shared by every benchmark (store, http, authz, audit): a `measure` driver
 * (N concurrent workers for D seconds or K ops), the result shape of
 * DESIGN.md §9, the target checker, the stdout table and the JSON writer.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'

// ── measuring ──────────────────────────────────────────────────────────────

export interface MeasureOptions {
  /** Workers calling `op` concurrently (default 1). */
  readonly concurrency?: number
  /** No new op starts after this many seconds... */
  readonly seconds?: number
  /** ...or once this many ops (all workers together) have started. At least one bound is needed. */
  readonly ops?: number
}

export interface Measurement {
  readonly ops: number
  /** What the ops returned, summed (an op returning nothing counts 1): events, rows, requests. */
  readonly units: number
  readonly seconds: number
  /** Units per second. */
  readonly rate: number
  /** Duration of every op, in ms, in completion order. */
  readonly samples: readonly number[]
}

/** Calls `op(worker, index)` from `concurrency` workers until a bound is reached; `index` counts per worker. */
export async function measure (
  options: MeasureOptions, op: (worker: number, index: number) => Promise<number | void>
): Promise<Measurement> {
  if (options.seconds === undefined && options.ops === undefined) throw new Error('measure needs seconds or ops')
  const deadline = options.seconds === undefined ? Infinity : performance.now() + options.seconds * 1000
  const maxOps = options.ops ?? Infinity
  const samples: number[] = []
  let started = 0
  let units = 0

  async function worker (id: number): Promise<void> {
    for (let index = 0; started < maxOps && performance.now() < deadline; index++) {
      started++
      const t0 = performance.now()
      const done = await op(id, index)
      samples.push(performance.now() - t0)
      units += typeof done === 'number' ? done : 1
    }
  }

  const start = performance.now()
  await Promise.all(Array.from({ length: options.concurrency ?? 1 }, (_, id) => worker(id)))
  const seconds = (performance.now() - start) / 1000
  return { ops: samples.length, units, seconds, rate: seconds > 0 ? units / seconds : 0, samples }
}

/** Several measurements of one thing (e.g. rounds) as one: total units over total time. */
export function combine (measurements: readonly Measurement[]): Measurement {
  const ops = sum(measurements.map((m) => m.ops))
  const units = sum(measurements.map((m) => m.units))
  const seconds = sum(measurements.map((m) => m.seconds))
  return { ops, units, seconds, rate: seconds > 0 ? units / seconds : 0, samples: measurements.flatMap((m) => m.samples) }
}

/** The p-th percentile (0..100) of the samples, nearest rank. */
export function percentile (samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1]!
}

function sum (values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0)
}

// ── results ────────────────────────────────────────────────────────────────

/** Targets copied verbatim from the issue, e.g. `{ value: '>= 5000', ratio: '>= 0.7' }`. */
export type Targets = Readonly<Partial<Record<'value' | 'ratio', string>>>

export interface Peer {
  readonly name: string
  readonly value: number
}

export interface BenchResult {
  readonly name: string
  readonly metric: string
  readonly value: number
  readonly peer?: Peer
  readonly ratio?: number
  readonly targets: Targets
}

export interface Machine {
  readonly cpus: number
  readonly node: string
  readonly database?: string
  readonly [extra: string]: unknown
}

export interface BenchReport {
  readonly bench: string
  readonly command: string
  readonly at: string
  readonly machine: Machine
  readonly results: readonly BenchResult[]
  /** What the figures alone do not say: a result not measured and why, a caveat. */
  readonly notes?: readonly string[]
}

interface ResultInput {
  readonly name: string
  readonly metric: string
  readonly value: number
  readonly peer?: Peer
  readonly targets?: Targets
}

/** Higher is better (events/s, requests/s): ratio = ours ÷ peer. */
export function throughput (input: ResultInput): BenchResult {
  return result(input, (ours, peer) => ours / peer)
}

/** Lower is better (ms): ratio = peer ÷ ours, so a higher ratio is still better. */
export function latency (input: ResultInput): BenchResult {
  return result(input, (ours, peer) => peer / ours)
}

function result (input: ResultInput, ratioOf: (ours: number, peer: number) => number): BenchResult {
  const value = round(input.value)
  const targets = input.targets ?? {}
  if (input.peer === undefined) return { name: input.name, metric: input.metric, value, targets }
  const peer = { name: input.peer.name, value: round(input.peer.value) }
  const ratio = Number(ratioOf(input.value, input.peer.value).toFixed(3))
  return { name: input.name, metric: input.metric, value, peer, ratio, targets }
}

/** Integers for large figures, 3 significant digits for small ones. */
function round (value: number): number {
  if (!Number.isFinite(value)) return value
  return Math.abs(value) >= 100 ? Math.round(value) : Number(value.toPrecision(3))
}

// ── targets ────────────────────────────────────────────────────────────────

export interface TargetCheck {
  readonly key: 'value' | 'ratio'
  readonly target: string
  readonly actual: number | undefined
  /** Undefined when the target cannot be read or there is nothing to compare. */
  readonly met: boolean | undefined
}

const TARGET = /^\s*(>=|<=|==|=|>|<)\s*(-?[\d_,]*\.?\d+)/

/** Whether `actual` meets a target such as `>= 5000`, `<= 20 ms`, `> 1.0`. */
export function meets (target: string, actual: number): boolean | undefined {
  const match = TARGET.exec(target)
  if (match === null || !Number.isFinite(actual)) return undefined
  const bound = Number(match[2]!.replaceAll(/[_,]/g, ''))
  switch (match[1]) {
    case '>=': return actual >= bound
    case '<=': return actual <= bound
    case '>': return actual > bound
    case '<': return actual < bound
    default: return actual === bound
  }
}

/** Checks the figures as written to the file. */
export function checkTargets (result: BenchResult): TargetCheck[] {
  return (['value', 'ratio'] as const).flatMap((key) => {
    const target = result.targets[key]
    if (target === undefined) return []
    const actual = result[key]
    return [{ key, target, actual, met: actual === undefined ? undefined : meets(target, actual) }]
  })
}

/** Results with at least one target not met (or not checkable). */
export function missedTargets (report: BenchReport): BenchResult[] {
  return report.results.filter((r) => checkTargets(r).some((check) => check.met !== true))
}

// ── output ─────────────────────────────────────────────────────────────────

export function machineInfo (database?: string, extra: Record<string, unknown> = {}): Machine {
  return { cpus: availableParallelism(), node: process.version, ...(database === undefined ? {} : { database }), ...extra }
}

/** The installed version of a dependency, for `machine`. */
export function packageVersion (name: string): string {
  const file = fileURLToPath(new URL(`../../node_modules/${name}/package.json`, import.meta.url))
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
}

/** `PostgreSQL 15.20` from `SELECT version()`'s long text. */
export function databaseName (versionText: string): string {
  return /^PostgreSQL [\d.]+/.exec(versionText)?.[0] ?? versionText
}

export function newReport (
  bench: string, command: string, machine: Machine, results: readonly BenchResult[], at = new Date()
): BenchReport {
  return { bench, command, at: at.toISOString(), machine, results }
}

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url))

/** Writes `bench/results/<bench>.json`; returns its path. */
export function writeReport (report: BenchReport, dir = RESULTS_DIR): string {
  mkdirSync(dir, { recursive: true })
  const file = `${dir.replace(/\/$/, '')}/${report.bench}.json`
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n')
  return file
}

/** A readable table of the results with each target marked met (✓) or not (✗). */
export function formatReport (report: BenchReport): string {
  const header = ['name', 'value', 'metric', 'peer', 'peer value', 'ratio', 'targets']
  const rows = report.results.map((r) => [
    r.name,
    formatNumber(r.value),
    r.metric,
    r.peer?.name ?? '',
    r.peer === undefined ? '' : formatNumber(r.peer.value),
    r.ratio === undefined ? '' : r.ratio.toFixed(2),
    checkTargets(r).map(formatCheck).join('  ') || '—'
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: string[]): string => cells
    .map((cell, i) => i === 1 || i === 4 || i === 5 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))
    .join('  ').trimEnd()
  const machine = Object.entries(report.machine).map(([k, v]) => `${k}=${String(v)}`).join(', ')
  const missed = missedTargets(report).length
  return [
    `${report.bench} benchmark (${report.command}) at ${report.at}`,
    `machine: ${machine}`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    missed === 0 ? 'all targets met' : `${missed} result(s) miss a target`,
    ...(report.notes ?? []).map((note) => `note: ${note}`)
  ].join('\n')
}

function formatCheck (check: TargetCheck): string {
  const mark = check.met === true ? '✓' : check.met === false ? '✗' : '?'
  return `${mark} ${check.key} ${check.target}`
}

function formatNumber (value: number): string {
  return Number.isInteger(value) ? value.toLocaleString('en-US') : String(value)
}
