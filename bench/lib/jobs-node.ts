/**
 * The node the jobs benchmark's recovery scenario kills: a child process
 * running a `Jobs` node (no projection: the bench process runs it) on the
 * bench database (BENCH_JOBS_DATABASE_URL), with the lease the scenario
 * measures (BENCH_JOBS_LEASE_SECONDS). Its handler says `STARTED <n>` on
 * stdout and then sleeps far longer than the run, holding the job's lease
 * (renewed by the heartbeat) until the bench kills the process with SIGKILL.
 */
import { openSqlClient } from '../../src/sql/client.ts'
import { benchHandler, openNode, openStore } from './jobs-engine.ts'

const url = process.env.BENCH_JOBS_DATABASE_URL
const leaseSeconds = Number(process.env.BENCH_JOBS_LEASE_SECONDS)
if (url === undefined || url === '' || !(leaseSeconds > 0)) {
  throw new Error('BENCH_JOBS_DATABASE_URL and BENCH_JOBS_LEASE_SECONDS are needed')
}

const sql = await openSqlClient({ databaseUrl: url })
const jobs = openNode(sql, openStore(sql), { node: 'doomed', leaseSeconds })
jobs.registerJobHandler(benchHandler(async (n, signal) => {
  process.stdout.write(`STARTED ${n}\n`)
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 3_600_000)
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(undefined) }, { once: true })
  })
}))
await jobs.start()
process.stdout.write('READY\n')
