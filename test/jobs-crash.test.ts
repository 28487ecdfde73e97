/**
 * Kill -9 a process mid-handler: a real child process (test/fixtures/
 * jobs-crash-node.ts) runs the job on the test's PostgreSQL database, records
 * its effect and hangs; the test kills it with SIGKILL. Once the child's
 * lease has run out, a runner in this process takes the job over (the
 * decider records the lost attempt) and completes it; the handler ran twice,
 * and its effect, keyed by the job id, is recorded once.
 *
 * PostgreSQL only: PGlite cannot be shared between processes.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { z } from 'zod'
import { drivers, openTestDatabase } from './helpers/databases.ts'
import { openJobsWorld, recordEffect, untilJobEvent } from './helpers/jobs-harness.ts'

const FIXTURE = fileURLToPath(new URL('./fixtures/jobs-crash-node.ts', import.meta.url))

/** Starts the child node; resolves with it and a function that waits for a line starting with `prefix`. */
function startChild (url: string): { child: ChildProcess, line(prefix: string): Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, JOBS_TEST_DATABASE_URL: url }, stdio: ['ignore', 'pipe', 'inherit']
  })
  const lines: string[] = []
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout! }).on('line', (text) => {
    lines.push(text)
    for (const wake of waiters) wake()
  })
  const exited = new Promise<never>((_resolve, reject) => child.once('exit', (code, signal) => {
    reject(new Error(`the child node exited (${code ?? signal}) before it said so`))
  }))
  exited.catch(() => {})
  return {
    child,
    async line (prefix) {
      for (;;) {
        const found = lines.find((text) => text.startsWith(prefix))
        if (found !== undefined) return found
        await Promise.race([new Promise<void>((resolve) => waiters.add(resolve)), exited])
      }
    }
  }
}

t.test('a node killed mid-handler: the job completes elsewhere after the lease, its effect recorded once', async (t) => {
  if (!drivers().includes('postgres')) {
    t.comment('skipped: DATABASE_URL is not set, and PGlite cannot be shared with a child process')
    return
  }
  {
    const { sql, url, dispose } = await openTestDatabase('postgres')
    t.teardown(dispose)
    const world = await openJobsWorld(t, sql)
    const { child, line } = startChild(url!)
    t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
    await line('READY')
    let runs = 0
    const here = world.node('survivor', { leaseSeconds: 2 })
    here.registerJobHandler({
      type: 'test.crash',
      payload: z.object({}).strict(),
      async handle (_payload, context) {
        runs++
        await recordEffect(world.store, context)
      }
    })
    const { jobId } = await here.schedule('test.crash', {})
    t.equal(await line('EFFECT'), `EFFECT ${jobId}`, 'the child ran the handler and recorded the effect')
    const gone = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await gone
    await here.start()
    const events = await untilJobEvent(world.store, jobId, ['job.attempt.succeeded'], 60_000)
    t.same(events.map((e) => e.type),
      ['job.scheduled', 'job.attempt.started', 'job.attempt.failed', 'job.attempt.started', 'job.attempt.succeeded'])
    t.match(events[1]!.data, { attempt: 1, node: 'child' })
    t.match(events[2]!.data, { attempt: 1, node: 'child', code: 'job.lease_lost' })
    t.match(events[4]!.data, { attempt: 2, node: 'survivor' })
    t.equal(runs, 1, 'the handler ran again here')
    const effects = await world.store.readStream(`effect-${jobId}`)
    t.equal(effects.length, 1, 'the effect is recorded once')
    await here.stop()
  }
})
