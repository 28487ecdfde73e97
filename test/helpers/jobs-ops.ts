/**
 * What the operators' job tests share (test/jobs-cli*.test.ts,
 * test/jobs-admin*.test.ts): a runtime with test handlers, the `ledgerline`
 * CLI run inside it as a server runs a CLI call (src/cli/control.ts: the
 * caller's streams, this runtime), and jobs written straight through the
 * job's decider at chosen times, so a window's edges and a list's order are
 * exact.
 */
import { pino } from 'pino'
import type { Test } from 'tap'
import { execute } from '../../src/application/commands.ts'
import type { JobHandler } from '../../src/application/jobs/handlers.ts'
import { loadConfig } from '../../src/config.ts'
import { systemCommand } from '../../src/domain/envelope.ts'
import { jobDecider, jobStreamId, type JobCommand } from '../../src/domain/jobs/job.ts'
import { formatPosition } from '../../src/eventstore/position.ts'
import { openRuntime, type Runtime } from '../../src/runtime.ts'
import type { SqlClient } from '../../src/sql/client.ts'
import { lastWritten } from './assertions.ts'

export const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })

/** A runtime with projections and the job runner running, and `handlers` registered; leases of 3 s (a heartbeat a second). */
export async function jobsRuntime (t: Test, sql: SqlClient, handlers: readonly JobHandler[] = []): Promise<Runtime> {
  const config = loadConfig({ NODE_ENV: 'test', JOB_LEASE_SECONDS: '3', JOB_POLL_INTERVAL_MS: '100', JOB_SHUTDOWN_GRACE_MS: '0' })
  const runtime = await openRuntime(config, logger, { sql, runProjections: true, extraJobHandlers: handlers })
  t.teardown(() => runtime.close())
  await settledJobs(runtime)
  return runtime
}

/** Waits until the `jobs` read model has applied every event written so far. */
export async function settledJobs (runtime: Runtime): Promise<void> {
  await runtime.runner.waitFor(await lastWritten(runtime.sql), 20_000, ['jobs'])
}

/** `ledgerline <args>` inside a runtime (test/helpers/ledgerline.ts), shared with the other CLI tests. */
export { ledgerline, type CliRun } from './ledgerline.ts'

/** The log's last position written, as text: equal before and after means nothing was written. */
export async function logHead (sql: SqlClient): Promise<string> {
  return formatPosition(await lastWritten(sql))
}

const at = (time: string | Date): Date => new Date(time)

async function command (runtime: Runtime, jobId: string, now: Date, jobCommand: JobCommand): Promise<void> {
  await execute(runtime.identity, jobDecider, jobStreamId(jobId), jobCommand, { ...systemCommand('jobs-test', now) })
}

export interface Fabricated { jobId: string, jobType: string, scheduledAt: string, orgId?: string }

/** Schedules a job at `scheduledAt`, due far in the future (no runner takes it), of a type that may have no handler. */
export async function scheduledJob (runtime: Runtime, job: Fabricated): Promise<void> {
  const metadata = { ...systemCommand('jobs-test', at(job.scheduledAt)), ...(job.orgId === undefined ? {} : { orgId: job.orgId }) }
  await execute(runtime.identity, jobDecider, jobStreamId(job.jobId), {
    type: 'ScheduleJob',
    data: { jobId: job.jobId, jobType: job.jobType, payload: { n: job.jobId }, runAt: '2100-01-01T00:00:00.000Z', maxAttempts: 1 }
  }, metadata)
}

/** A job that died at `diedAt` after one attempt that failed for good (scheduled and started a second before). */
export async function deadJob (runtime: Runtime, jobId: string, jobType: string, diedAt: string): Promise<void> {
  const started = new Date(Date.parse(diedAt) - 1000)
  await command(runtime, jobId, started, {
    type: 'ScheduleJob', data: { jobId, jobType, payload: { n: jobId }, runAt: started.toISOString(), maxAttempts: 3 }
  })
  await command(runtime, jobId, started, { type: 'StartAttempt', data: { node: 'test-node', leaseSeconds: 30 } })
  await command(runtime, jobId, at(diedAt), {
    type: 'FailAttempt', data: { node: 'test-node', attempt: 1, code: 'http.410', message: 'gone', retryable: false, random: 0 }
  })
}

/** Runs `work` over `items`, `width` at a time. */
export async function inBatches<T> (items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(work))
}
