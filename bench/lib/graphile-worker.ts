/**
 * The jobs benchmark's peer: graphile-worker 0.17 (the last release line that
 * runs on Node 20; 0.18 wants Node 22.18), on a database of its own, run as
 * its README runs it: `run()` with a task list, `addJob`/`addJobs` from
 * worker utils, everything else at its defaults (pool of 10, poll 2 s, no
 * local queue, no batched completion). Its pools are made here, at their
 * default size, so that they are ended before the database is dropped.
 *
 * Decisions:
 * - Its per-job success log line is off (`NO_LOG_SUCCESS`, its own switch)
 *   and its logger is silent: ours logs nothing per job either.
 * - A job is done when its row is gone: the worker fires its completion
 *   without awaiting it, so `job:complete` comes before the DELETE has
 *   committed; `drained()` waits for the table to be empty.
 */
import type { Runner, WorkerUtils } from 'graphile-worker'
import pg from 'pg'
import { packageVersion } from './results.ts'

process.env.NO_LOG_SUCCESS ??= '1' // read when graphile-worker's modules load, hence the import below
const gw = await import('graphile-worker')

export const GRAPHILE_TASK = 'bench_noop'
export const GRAPHILE_NAME = `graphile-worker ${packageVersion('graphile-worker')}`

const silent = new gw.Logger(() => () => {})

export interface GraphilePeer {
  /** Adds jobs `{ n }` for each n in one `addJobs` call (one INSERT). */
  addJobs(ns: readonly number[]): Promise<void>
  /** Adds one job `{ n }` through `addJob`. */
  addJob(n: number): Promise<void>
  /** Starts a worker pool whose task calls `handle(n)`. */
  start(handle: (n: number) => Promise<void> | void, concurrency: number): Promise<void>
  /** Resolves once `expected` tasks have returned and no job is left in the queue (completed and deleted). */
  drained(expected: number, timeoutMs: number): Promise<void>
  close(): Promise<void>
}

export async function openGraphilePeer (url: string): Promise<GraphilePeer> {
  // Pools of its default size (10), one for the utils and one for the runner as it would make them, but made and ended
  // here: a pool it makes itself it ends without waiting, after taking its error handler off, so dropping the database
  // just after killed the bench process through an idle client.
  const pools: pg.Pool[] = []
  const newPool = (): pg.Pool => {
    const pool = new pg.Pool({ connectionString: url, max: 10 })
    pool.on('error', () => {})
    pools.push(pool)
    return pool
  }
  const utilsPool = newPool()
  await gw.runMigrations({ pgPool: utilsPool, logger: silent })
  const utils: WorkerUtils = await gw.makeWorkerUtils({ pgPool: utilsPool, logger: silent })
  const probe = new pg.Client({ connectionString: url })
  await probe.connect()
  let runner: Runner | undefined
  let handled = 0
  return {
    async addJobs (ns) {
      await utils.addJobs(ns.map((n) => ({ identifier: GRAPHILE_TASK, payload: { n } })))
    },
    async addJob (n) {
      await utils.addJob(GRAPHILE_TASK, { n })
    },
    async start (handle, concurrency) {
      runner = await gw.run({
        pgPool: newPool(),
        concurrency,
        noHandleSignals: true,
        logger: silent,
        taskList: {
          [GRAPHILE_TASK]: async (payload) => {
            await handle((payload as { n: number }).n)
            handled++
          }
        }
      })
    },
    async drained (expected, timeoutMs) {
      const deadline = Date.now() + timeoutMs
      const late = (): Error =>
        new Error(`graphile-worker: ${handled} of ${expected} jobs run, or the queue not empty, after ${timeoutMs} ms`)
      // Counted in-process first, so the table is not probed (among dead rows) while the drain runs.
      while (handled < expected) {
        if (Date.now() > deadline) throw late()
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
      for (;;) {
        const { rows } = await probe.query<{ left: boolean }>('SELECT EXISTS (SELECT 1 FROM graphile_worker._private_jobs) AS left')
        if (!rows[0]!.left) return
        if (Date.now() > deadline) throw late()
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
    },
    async close () {
      await runner?.stop()
      await utils.release()
      await probe.end()
      await Promise.all(pools.map((pool) => pool.end()))
    }
  }
}
