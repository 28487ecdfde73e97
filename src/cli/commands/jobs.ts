/**
 * `ledgerline jobs list | show | retry | cancel | replay`: what on-call needs
 * when jobs pile up or die (runbooks name these commands). Each calls the
 * application's job operations (src/application/jobs/operations.ts); the
 * CLI acts as the system (`cli:jobs`), which the events record as `by`.
 *
 * Reads wait until the `jobs` read model has applied the log as it is now,
 * running the projections in this process when nobody else leads them. The
 * job runner is not started (as `runProjections` would): a command that
 * lists jobs must not claim and run them, nor hold its exit for a running
 * handler's grace period.
 *
 * Lists and replays read the table a page at a time (keyset pages), and
 * `--json` output is written as the pages arrive, so thousands of jobs never
 * sit in memory at once. A replay shows a progress bar on a terminal's
 * standard error, none with `--json` or when standard error is not a
 * terminal.
 */
import type { Command } from 'commander'
import {
  cancelJob, countReplay, jobDetail, replayDeadJobs, ReplayWindow, retryJob,
  type JobChange, type JobDetail, type JobOperationsDeps, type ReplayedJob
} from '../../application/jobs/operations.ts'
import { systemCommand } from '../../domain/envelope.ts'
import { JobType } from '../../domain/jobs/events.ts'
import { Id } from '../../domain/values.ts'
import { JOB_STATES, jobsPage, type JobListKey, type JobStatus, type JobView } from '../../projections/jobs/queries.ts'
import type { Runtime } from '../../runtime.ts'
import { print, toJson, withRuntime } from '../context.ts'
import { io } from '../io.ts'
import { progress } from '../progress.ts'

/** The most `list --limit` prints; it reads them PAGE at a time. */
const MAX_LIST = 100_000
const PAGE = 500

interface ListOptions { state?: string, type?: string, org?: string, limit: number, json?: boolean }
interface ReplayOptions { type: string, from: string, to: string, state: string, dryRun?: boolean, json?: boolean }

const deps = (runtime: Runtime): JobOperationsDeps => ({ sql: runtime.sql, services: runtime.identity })

/** The `jobs` read model as of now (see the header). */
async function caughtUp (runtime: Runtime): Promise<void> {
  runtime.runner.start()
  const everything = await runtime.store.committedHeadPosition()
  await runtime.runner.waitFor(everything, Math.max(runtime.config.consistencyTimeoutMs, 60_000), ['jobs'])
}

const write = (text: string): void => { io().stdout.write(text) }
const orDash = (value: string | null): string => value ?? '-'
const failure = (error: JobView['lastError']): string => (error === null ? '' : `  ${error.code}: ${error.message}`)

function line (job: JobView): string {
  return `${job.jobId}  ${job.state.padEnd(9)} ${job.jobType}  attempt ${job.attempt}/${job.maxAttempts}  run at ${job.runAt}  ` +
    `org ${orDash(job.orgId)}${failure(job.lastError)}`
}

function describeJob (job: JobDetail): string {
  const lines = [
    `job ${job.jobId}: ${job.state}${job.deadReason === null ? '' : ` (${job.deadReason})`}, type ${job.jobType}`,
    `  organization  ${orDash(job.orgId)}`,
    `  key           ${job.key === null ? '-' : `${job.key} (${orDash(job.keyMode)})`}`,
    `  scheduled     ${job.scheduledAt}`,
    `  run at        ${job.runAt}`,
    `  attempts      ${job.attempt} of ${job.maxAttempts} (timeout ${job.timeoutSeconds} s)`,
    `  finished      ${orDash(job.finishedAt)}`,
    `  lease         ${job.leaseNode === null ? '-' : `${job.leaseNode} until ${orDash(job.leaseUntil)}`}`,
    `  last error    ${job.lastError === null ? '-' : `${job.lastError.code}: ${job.lastError.message}`}`,
    `  payload       ${JSON.stringify(job.payload)}`,
    `  result        ${job.result === null ? '-' : JSON.stringify(job.result)}`,
    job.attempts.length === 0 ? 'no attempts' : 'attempts:',
    ...job.attempts.map((a) => `  #${a.attempt}  ${a.outcome.padEnd(11)} on ${a.node}  ${a.startedAt} .. ${orDash(a.endedAt)}` +
      `${failure(a.error)}${a.retryAt === null ? '' : `  (next at ${a.retryAt})`}`),
    'history:',
    ...job.history.map((h) => `  ${h.at}  ${h.type} by ${h.actor}  ${JSON.stringify(h.data)}`)
  ]
  return lines.join('\n')
}

function describeChange (verb: string, change: JobChange): string {
  const due = change.runAt === null ? '' : `, due ${change.runAt}`
  if (!change.changed) return `${change.jobId} is ${change.state} already: nothing to do`
  return `${change.dryRun ? `would ${verb}` : `${verb === 'retry' ? 'retried' : 'cancelled'}`} ${change.jobId}: ${change.state}${due}` +
    `${change.dryRun ? ' (dry run: nothing written)' : ''}`
}

/** Commander's exit for a bad option: the message, exit status 2, nothing opened. */
function usage (command: Command, message: string): never {
  command.error(message, { exitCode: 2 })
}

function jobId (command: Command, value: string): string {
  if (!Id.safeParse(value).success) usage(command, `not a job id: ${JSON.stringify(value.slice(0, 80))} (1 to 64 letters, digits, _ or -)`)
  return value
}

function listFilters (command: Command, options: ListOptions): { state?: JobStatus, jobType?: string, orgId?: string } {
  if (options.state !== undefined && !(JOB_STATES as readonly string[]).includes(options.state)) {
    usage(command, `--state must be one of ${JOB_STATES.join(', ')}`)
  }
  if (options.type !== undefined && !JobType.safeParse(options.type).success) usage(command, `--type is not a job type: ${options.type}`)
  if (options.org !== undefined && !Id.safeParse(options.org).success) usage(command, `--org is not an organization id: ${options.org}`)
  if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > MAX_LIST) {
    usage(command, `--limit must be a whole number from 1 to ${MAX_LIST}`)
  }
  return {
    ...(options.state === undefined ? {} : { state: options.state as JobStatus }),
    ...(options.type === undefined ? {} : { jobType: options.type }),
    ...(options.org === undefined ? {} : { orgId: options.org })
  }
}

/** Prints up to `limit` jobs, newest first, a page at a time. */
async function list (runtime: Runtime, filters: ReturnType<typeof listFilters>, limit: number, json: boolean): Promise<void> {
  let after: JobListKey | undefined
  let shown = 0
  if (json) write('{"items":[')
  do {
    const page = await jobsPage(runtime.sql, filters, { limit: Math.min(PAGE, limit - shown), after })
    for (const job of page.items) {
      write(json ? `${shown === 0 ? '' : ','}\n${toJson(job)}` : `${line(job)}\n`)
      shown++
    }
    after = page.next
  } while (after !== undefined && shown < limit)
  if (json) write(`${shown === 0 ? '' : '\n'}]}\n`)
  else if (shown === 0) print('no jobs')
}

const REPLAY_FLAGS: Record<string, string> = { jobType: '--type', state: '--state', from: '--from', to: '--to' }

/** The window as the replay takes it, checked by the replay's own schema; a bad flag is a usage error. */
function replayWindow (command: Command, options: ReplayOptions): ReplayWindow {
  if (!JobType.safeParse(options.type).success) usage(command, `--type is not a job type: ${options.type}`)
  const window = { jobType: options.type, state: options.state, from: options.from, to: options.to }
  const parsed = ReplayWindow.safeParse(window)
  if (!parsed.success) {
    usage(command, parsed.error.issues.map((issue) => `${REPLAY_FLAGS[String(issue.path[0])] ?? ''}: ${issue.message}`).join('; '))
  }
  return window as ReplayWindow
}

/** A bar on a terminal (jobs met, rate); nothing otherwise. */
function replayProgress (total: number, shown: boolean): { add: () => void, stop: () => void } {
  if (!shown || io().stderr.isTTY !== true) return { add () {}, stop () {} }
  const started = Date.now()
  let done = 0
  const bar = progress('replay [{bar}] {value}/{total} jobs | {rate} jobs/s | ETA {eta_formatted}', total, { rate: 0 },
    (value, { rate }) => `replay ${value}/${total} jobs, ${rate} jobs/s`)
  return {
    add () {
      done++
      bar.update(done, { rate: Math.round(done / Math.max(0.001, (Date.now() - started) / 1000)) })
    },
    stop: () => bar.stop()
  }
}

async function replay (runtime: Runtime, window: ReplayWindow, options: ReplayOptions): Promise<void> {
  const json = options.json === true
  const dryRun = options.dryRun === true
  const metadata = systemCommand('cli:jobs')
  await caughtUp(runtime)
  const total = await countReplay(deps(runtime), window, metadata.now)
  const bar = replayProgress(total, !json && !dryRun)
  const counts = { retried: 0, would_retry: 0, skipped: 0 }
  if (json) write(`${toJson({ jobType: window.jobType, from: window.from, to: window.to, dryRun }).slice(0, -1)},"jobs":[`)
  let first = true
  try {
    for await (const job of replayDeadJobs(deps(runtime), metadata, window, { dryRun })) {
      counts[job.outcome]++
      bar.add()
      if (json) write(`${first ? '' : ','}\n${toJson(job)}`)
      else if (dryRun) print(replayLine(job))
      first = false
    }
  } finally {
    bar.stop()
  }
  if (json) write(`${first ? '' : '\n'}],"retried":${counts.retried},"wouldRetry":${counts.would_retry},"skipped":${counts.skipped}}\n`)
  else print(dryRun
    ? `dry run: would retry ${counts.would_retry} dead ${window.jobType} jobs; ${counts.skipped} no longer dead; nothing written`
    : `retried ${counts.retried} dead ${window.jobType} jobs; ${counts.skipped} were no longer dead`)
}

function replayLine (job: ReplayedJob): string {
  const what = job.outcome === 'skipped' ? 'skip (no longer dead)' : 'would retry'
  return `${job.jobId}  died ${job.diedAt} after ${job.attempts} attempts${failure(job.lastError)}  → ${what}`
}

export function jobsCommand (program: Command): void {
  const group = program.command('jobs').description('durable jobs: list, inspect, retry, cancel, replay the dead')

  const listing = group.command('list')
    .description('jobs, newest first (by the time they were scheduled)')
    .option('--state <state>', JOB_STATES.join(', '))
    .option('--type <type>', 'jobs of this type')
    .option('--org <orgId>', 'jobs of this organization')
    .option('--limit <n>', `at most this many (1 to ${MAX_LIST})`, (value) => (/^\d{1,9}$/.test(value) ? Number(value) : Number.NaN), 50)
    .option('--json', 'print {"items": [...]}')
    .action(async (options: ListOptions) => {
      const filters = listFilters(listing, options)
      await withRuntime(async (runtime) => {
        await caughtUp(runtime)
        await list(runtime, filters, options.limit, options.json === true)
      })
    })

  const show = group.command('show')
    .description('one job: its row, payload, every attempt (node, start, end, outcome, error) and its history')
    .argument('<jobId>', 'the job')
    .option('--json', 'print the job as JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      jobId(show, id)
      const job = await withRuntime(async (runtime) => {
        await caughtUp(runtime)
        return jobDetail(deps(runtime), id)
      })
      print(options.json === true ? toJson(job) : describeJob(job))
    })

  const retry = group.command('retry')
    .description('run a dead or cancelled job again (or a failed one now, rather than at its next retry); ' +
      'refused for a job that is running, has succeeded, or waits without having failed')
    .argument('<jobId>', 'the job')
    .option('--dry-run', 'say what would happen; write nothing')
    .option('--json', 'print {"jobId", "changed", "state", "runAt", "position", "dryRun"}')
    .action(async (id: string, options: { dryRun?: boolean, json?: boolean }) => {
      jobId(retry, id)
      const change = await withRuntime(async (runtime) =>
        retryJob(deps(runtime), systemCommand('cli:jobs'), id, { dryRun: options.dryRun === true }))
      print(options.json === true ? toJson(change) : describeChange('retry', change))
    })

  const cancel = group.command('cancel')
    .description('cancel a waiting or running job (a running one\'s handler is aborted at its next heartbeat); ' +
      'refused for a job that has succeeded or is dead')
    .argument('<jobId>', 'the job')
    .option('--reason <text>', 'why: kept on the event (up to 500 characters)')
    .option('--dry-run', 'say what would happen; write nothing')
    .option('--json', 'print {"jobId", "changed", "state", "runAt", "position", "dryRun"}')
    .action(async (id: string, options: { reason?: string, dryRun?: boolean, json?: boolean }) => {
      jobId(cancel, id)
      const change = await withRuntime(async (runtime) =>
        cancelJob(deps(runtime), systemCommand('cli:jobs'), id, { note: options.reason, dryRun: options.dryRun === true }))
      print(options.json === true ? toJson(change) : describeChange('cancel', change))
    })

  const replaying = group.command('replay')
    .description('retry every dead job of a type that died at or after --from and before --to; --dry-run lists them and writes nothing')
    .requiredOption('--type <type>', 'the job type')
    .requiredOption('--from <time>', 'died at or after (a date or an ISO time)')
    .requiredOption('--to <time>', 'died before (a date or an ISO time)')
    .option('--state <state>', 'the state to replay: dead (the only one)', 'dead')
    .option('--dry-run', 'list what would be retried; write nothing')
    .option('--json', 'print {"jobs": [...], "retried", "wouldRetry", "skipped"}')
    .action(async (options: ReplayOptions) => {
      const window = replayWindow(replaying, options)
      await withRuntime(async (runtime) => replay(runtime, window, options))
    })
}
