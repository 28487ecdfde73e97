/**
 * The jobs benchmark's two loads, shared by ours and the peer: the figures of
 * a throughput run (enqueue N, then drain them), and the latency run: jobs
 * enqueued open-loop at a fixed rate (open-loop.ts), each handler noting
 * when it starts; latency is handler start minus the job's intended enqueue
 * time.
 */
import { openLoop } from './open-loop.ts'
import { percentile } from './results.ts'

export interface ThroughputFigures {
  readonly jobs: number
  /** From the first enqueue call to the last one's answer. */
  readonly enqueueSeconds: number
  /** From starting the workers to the last job done (its outcome durable). */
  readonly drainSeconds: number
}

export function rates (f: ThroughputFigures): { enqueue: number, drain: number, whole: number } {
  return { enqueue: f.jobs / f.enqueueSeconds, drain: f.jobs / f.drainSeconds, whole: f.jobs / (f.enqueueSeconds + f.drainSeconds) }
}

/** When each job's handler first started (performance.now() ms), by the job's number. */
export class StartTimes {
  readonly #at = new Map<number, number>()

  record (n: number): void {
    if (!this.#at.has(n)) this.#at.set(n, performance.now())
  }

  get (n: number): number | undefined {
    return this.#at.get(n)
  }

  /** Resolves once jobs from..from+count-1 have all started, or after `timeoutMs` (the rest stay missing). */
  async until (from: number, count: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs
    for (let n = from; n < from + count;) {
      if (this.#at.has(n)) { n++; continue }
      if (performance.now() > deadline) return
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
}

export interface LatencyFigures {
  readonly rate: number
  readonly jobs: number
  /** Enqueue → handler start (ms) of every job that started. */
  readonly startMs: readonly number[]
  /** How long the enqueue call took, from its intended time (ms). */
  readonly enqueueMs: readonly number[]
  /** Jobs not started within the wait after the load, or whose enqueue failed. */
  readonly missing: number
  readonly enqueueErrors: number
  readonly firstError: unknown
  readonly maxLagMs: number
}

/** Enqueues jobs base..base+rate*seconds-1 at `rate` per second and waits (up to `waitMs`) for their handlers to start. */
export async function latencyLoad (
  options: { rate: number, seconds: number, base: number, waitMs: number },
  enqueue: (n: number) => Promise<unknown>, starts: StartTimes
): Promise<LatencyFigures> {
  const { rate, seconds, base } = options
  const load = await openLoop(rate, seconds, (i) => enqueue(base + i))
  const count = load.intended.length
  await starts.until(base, count, options.waitMs)
  const startMs: number[] = []
  for (let i = 0; i < count; i++) {
    const at = starts.get(base + i)
    if (at !== undefined) startMs.push(at - load.intended[i]!)
  }
  return {
    rate,
    jobs: count,
    startMs,
    enqueueMs: [...load.settledMs].filter((ms) => !Number.isNaN(ms)),
    missing: count - startMs.length,
    enqueueErrors: load.errors,
    firstError: load.firstError,
    maxLagMs: load.maxLagMs
  }
}

/** `p50 4.1 / p99 12.3 / max 20.0 ms` */
export function describeMs (samples: readonly number[]): string {
  const f = (p: number): string => percentile(samples, p).toFixed(1)
  return `p50 ${f(50)} / p99 ${f(99)} / max ${f(100)} ms`
}
