/**
 * The jobs benchmark's scenarios on Ledgerline's engine (jobs-engine.ts), on
 * a SQL client the caller opened and migrated (a fresh database, or PGlite):
 * throughput (enqueue N through `scheduleMany()` in batches, one caller, as
 * the peer's addJobs; then one node drains them), enqueue alone through
 * `schedule()` from concurrent callers, latency (one node running
 * while jobs are scheduled open-loop), and recovery (a child node killed
 * with SIGKILL while it holds leases; this process's node takes them over).
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { jobStreamId } from '../../src/domain/jobs/job.ts'
import type { EventStore } from '../../src/eventstore/types.ts'
import type { ProjectionRunner } from '../../src/projections/runner.ts'
import type { SqlClient } from '../../src/sql/client.ts'
import { AttemptCounter, BENCH_JOB, benchHandler, openNode, openStore, startProjection } from './jobs-engine.ts'
import { latencyLoad, StartTimes, type LatencyFigures, type ThroughputFigures } from './jobs-load.ts'
import { log } from './log.ts'
import { measure, type Measurement } from './results.ts'

export interface OursThroughput extends ThroughputFigures {
  /** Log events written per job (scheduled, started, succeeded: 3 at best). */
  readonly eventsPerJob: number
  /** When the projection had applied every `job.scheduled`, seconds after the drain started (0: before it). */
  readonly queueReadySeconds: number
}

/** Runs `fn` with the event store and the `jobs` projection running on `sql`; stops them after. */
async function withEngine<T> (sql: SqlClient, fn: (store: EventStore, projections: ProjectionRunner) => Promise<T>): Promise<T> {
  const store = openStore(sql)
  const projections = await startProjection(sql, store)
  try {
    return await fn(store, projections)
  } finally {
    await projections.stop()
    await store.close()
  }
}

export function oursThroughput (sql: SqlClient, options: { jobs: number, batch: number }): Promise<OursThroughput> {
  return withEngine(sql, async (store, projections) => {
    const node = openNode(sql, store, { node: 'bench' })
    const counter = new AttemptCounter()
    node.observe(counter)
    node.registerJobHandler(benchHandler(() => {}))
    const batches = Math.ceil(options.jobs / options.batch)
    const enqueue = await measure({ ops: batches }, async (_worker, i) => {
      const size = Math.min(options.batch, options.jobs - i * options.batch)
      await node.scheduleMany(Array.from({ length: size }, (_, k) => ({ type: BENCH_JOB, payload: { n: i * options.batch + k } })))
      return size
    })
    const head = await store.headPosition()
    const started = performance.now()
    let queueReadyAt = started
    // The runner's own position, not a query: the drain is not slowed to watch it.
    const queueReady = projections.waitFor(head, Math.max(300_000, options.jobs * 50)).then(() => { queueReadyAt = performance.now() })
    await node.start()
    await counter.until('succeeded', options.jobs, Math.max(300_000, options.jobs * 50))
    const drainSeconds = (performance.now() - started) / 1000
    await node.stop({ graceMs: 0 })
    await queueReady
    const failed = counter.count('failed') + counter.count('dead')
    if (failed > 0) throw new Error(`${failed} attempts failed in the throughput run`)
    const events = await countEvents(sql)
    return {
      jobs: options.jobs,
      enqueueSeconds: enqueue.seconds,
      drainSeconds,
      eventsPerJob: events / options.jobs,
      queueReadySeconds: Math.max(0, (queueReadyAt - started) / 1000)
    }
  })
}

/** `schedule()` one job at a time from `concurrency` callers, nothing running the jobs (the projection runs, as deployed). */
export function oursEnqueueSingle (sql: SqlClient, options: { jobs: number, concurrency: number }): Promise<Measurement> {
  return withEngine(sql, async (store) => {
    const node = openNode(sql, store, { node: 'bench' })
    node.registerJobHandler(benchHandler(() => {}))
    let next = 0
    return measure({ concurrency: options.concurrency, ops: options.jobs }, async () => { await node.schedule(BENCH_JOB, { n: next++ }) })
  })
}

async function countEvents (sql: SqlClient): Promise<number> {
  const { rows } = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM events')
  return rows[0]!.n
}

export function oursLatency (
  sql: SqlClient, options: { rate: number, seconds: number, warmupSeconds: number }
): Promise<LatencyFigures> {
  return withEngine(sql, async (store) => {
    const node = openNode(sql, store, { node: 'bench' })
    const starts = new StartTimes()
    node.registerJobHandler(benchHandler((n) => { starts.record(n) }))
    await node.start()
    try {
      const enqueue = (n: number): Promise<unknown> => node.schedule(BENCH_JOB, { n })
      await latencyLoad({ rate: options.rate, seconds: options.warmupSeconds, base: 1_000_000_000, waitMs: 30_000 }, enqueue, starts)
      return await latencyLoad({ rate: options.rate, seconds: options.seconds, base: 0, waitMs: 60_000 }, enqueue, starts)
    } finally {
      await node.stop({ graceMs: 5000 })
    }
  })
}

export interface RecoveryFigures {
  readonly jobs: number
  readonly leaseSeconds: number
  /** From the SIGKILL to the last of the child's jobs completed here. */
  readonly seconds: number
  /** From the SIGKILL to the end of the latest lease the child held. */
  readonly leaseLeftSeconds: number
  /** Lost leases the taking node recorded (one per job taken over). */
  readonly takenOver: number
}

const CHILD = fileURLToPath(new URL('./jobs-node.ts', import.meta.url))

export function oursRecovery (sql: SqlClient, url: string, options: { jobs: number, leaseSeconds: number }): Promise<RecoveryFigures> {
  return withEngine(sql, async (store) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: { ...process.env, BENCH_JOBS_DATABASE_URL: url, BENCH_JOBS_LEASE_SECONDS: String(options.leaseSeconds) },
      stdio: ['ignore', 'pipe', 'inherit']
    })
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    try {
      const started = new Set<string>()
      const lines = createInterface({ input: child.stdout })
      const ready = new Promise<void>((resolve) => lines.on('line', (line) => {
        if (line === 'READY') resolve()
        if (line.startsWith('STARTED ')) started.add(line.slice('STARTED '.length))
      }))
      await Promise.race([ready, exited.then(() => { throw new Error('the child node exited before it was ready') })])
      const survivor = openNode(sql, store, { node: 'survivor', leaseSeconds: options.leaseSeconds })
      const counter = new AttemptCounter()
      survivor.observe(counter)
      survivor.registerJobHandler(benchHandler(() => {}))
      const jobIds: string[] = []
      for (let n = 0; n < options.jobs; n++) jobIds.push((await survivor.schedule(BENCH_JOB, { n })).jobId)
      await until(() => started.size >= options.jobs, 30_000, 'the child node to start every job')
      await survivor.start()
      const killedAt = Date.now()
      const t0 = performance.now()
      child.kill('SIGKILL')
      await counter.until('succeeded', options.jobs, (options.leaseSeconds + 60) * 1000)
      const seconds = (performance.now() - t0) / 1000
      await survivor.stop({ graceMs: 0 })
      const leaseEnd = Math.max(...await Promise.all(jobIds.map((id) => childLeaseEnd(store, id))))
      log(`  recovery: ${counter.count('succeeded')} jobs completed by the survivor ${seconds.toFixed(2)} s after the kill`)
      return {
        jobs: options.jobs, leaseSeconds: options.leaseSeconds, seconds, leaseLeftSeconds: (leaseEnd - killedAt) / 1000,
        takenOver: counter.lostLeases
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    }
  })
}

/** The end of the last lease node `doomed` held on the job (started or renewed). */
async function childLeaseEnd (store: EventStore, jobId: string): Promise<number> {
  const events = await store.readStream(jobStreamId(jobId))
  const leases = events
    .map((e) => e.data as { node?: string, leaseUntil?: string })
    .filter((d) => d.node === 'doomed' && d.leaseUntil !== undefined)
    .map((d) => Date.parse(d.leaseUntil!))
  if (leases.length === 0) throw new Error(`job ${jobId} was never leased by the killed node`)
  return Math.max(...leases)
}

async function until (probe: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
