/**
 * The jobs benchmark's figures as results (DESIGN.md §9) and notes. Targets
 * are the issue's: throughput ≥ 2,000 jobs/s and ≥ 1.0× graphile-worker (on
 * the drain and on the whole), latency p50 ≤ 10 ms and p99 ≤ 50 ms, recovery
 * ≤ JOB_LEASE_SECONDS + 5 s (written with the lease the run used).
 * graphile-worker's recovery is its documented lock expiry: jobs locked by a
 * worker that died are freed after 4 hours (hard-coded in its SQL,
 * `locked_at < now() - interval '4 hours'`), so it is reported, not waited
 * for.
 */
import { rates, describeMs, type LatencyFigures, type ThroughputFigures } from './jobs-load.ts'
import type { OursThroughput, RecoveryFigures } from './jobs-ours.ts'
import { GRAPHILE_NAME } from './graphile-worker.ts'
import { latency, percentile, throughput, type BenchResult, type Measurement, type Targets } from './results.ts'

export interface PostgresFigures {
  readonly version: string
  readonly ours: OursThroughput
  readonly peer: ThroughputFigures
  readonly peerSingle: Measurement
  readonly oursSingle: Measurement
  readonly oursLatency: LatencyFigures
  readonly peerLatency: LatencyFigures
  readonly recovery: RecoveryFigures
}

export interface PgliteFigures {
  readonly version: string
  readonly throughput: OursThroughput
  readonly latency: LatencyFigures
}

export interface JobsFigures {
  readonly postgres?: PostgresFigures
  readonly pglite?: PgliteFigures
}

export interface ReportParameters {
  readonly jobs: number
  readonly concurrency: number
  readonly enqueuers: number
  readonly peerAddJobsBatch: number
  readonly latencyRate: number
  readonly latencySeconds: number
  readonly latencyWarmupSeconds: number
  readonly leaseSeconds: number
  readonly recoveryJobs: number
  readonly pgliteJobs: number
  readonly pgliteRate: number
  /** Our engine's settings (the configuration's defaults). */
  readonly engine: Readonly<Record<string, number | undefined>>
}

const THROUGHPUT: Targets = { value: '>= 2000', ratio: '>= 1.0' }
const P50: Targets = { value: '<= 10' }
const P99: Targets = { value: '<= 50' }

/** graphile-worker frees a dead worker's jobs after 4 hours. */
const PEER_RECOVERY_SECONDS = 4 * 3600

export function jobsResults (p: ReportParameters, figures: JobsFigures): BenchResult[] {
  return [...postgresResults(p, figures.postgres), ...pgliteResults(figures.pglite)]
}

function postgresResults (p: ReportParameters, f: PostgresFigures | undefined): BenchResult[] {
  if (f === undefined) return []
  const ours = rates(f.ours)
  const peer = rates(f.peer)
  const c = `concurrency ${p.concurrency}`
  const peerRun = `${GRAPHILE_NAME} run(), ${c}`
  return [
    throughput({
      name: 'jobs-throughput', metric: 'jobs/s', value: ours.whole,
      peer: { name: `${peerRun}, enqueued through addJobs (${p.peerAddJobsBatch} a call)`, value: peer.whole }, targets: THROUGHPUT
    }),
    throughput({
      name: 'jobs-throughput-drain', metric: 'jobs/s', value: ours.drain, peer: { name: peerRun, value: peer.drain }, targets: THROUGHPUT
    }),
    throughput({
      name: 'jobs-throughput-enqueue', metric: 'jobs/s', value: ours.enqueue,
      peer: { name: `${GRAPHILE_NAME} addJobs, ${p.peerAddJobsBatch} jobs a call, one caller`, value: peer.enqueue }
    }),
    throughput({
      name: 'jobs-throughput-enqueue-single', metric: 'jobs/s', value: f.oursSingle.rate,
      peer: { name: `${GRAPHILE_NAME} addJob, ${p.enqueuers} concurrent callers`, value: f.peerSingle.rate }
    }),
    latency({
      name: 'jobs-latency-p50', metric: 'ms', value: percentile(f.oursLatency.startMs, 50),
      peer: { name: `${GRAPHILE_NAME}, addJob at the same rate`, value: percentile(f.peerLatency.startMs, 50) }, targets: P50
    }),
    latency({
      name: 'jobs-latency-p99', metric: 'ms', value: percentile(f.oursLatency.startMs, 99),
      peer: { name: `${GRAPHILE_NAME}, addJob at the same rate`, value: percentile(f.peerLatency.startMs, 99) }, targets: P99
    }),
    latency({
      name: 'jobs-recovery', metric: 's', value: f.recovery.seconds,
      peer: { name: `${GRAPHILE_NAME}: documented lock expiry (4 h), not measured`, value: PEER_RECOVERY_SECONDS },
      targets: { value: `<= ${f.recovery.leaseSeconds + 5} (JOB_LEASE_SECONDS + 5 s; lease ${f.recovery.leaseSeconds} s)` }
    })
  ]
}

function pgliteResults (f: PgliteFigures | undefined): BenchResult[] {
  if (f === undefined) return []
  const r = rates(f.throughput)
  return [
    throughput({ name: 'jobs-throughput-pglite', metric: 'jobs/s', value: r.whole }),
    throughput({ name: 'jobs-throughput-drain-pglite', metric: 'jobs/s', value: r.drain }),
    throughput({ name: 'jobs-throughput-enqueue-pglite', metric: 'jobs/s', value: r.enqueue }),
    latency({ name: 'jobs-latency-p50-pglite', metric: 'ms', value: percentile(f.latency.startMs, 50) }),
    latency({ name: 'jobs-latency-p99-pglite', metric: 'ms', value: percentile(f.latency.startMs, 99) })
  ]
}

export function jobsNotes (p: ReportParameters, figures: JobsFigures, loads: readonly number[]): string[] {
  const notes: string[] = []
  const f = figures.postgres
  if (f !== undefined) {
    notes.push(
      `jobs-throughput: ${p.jobs.toLocaleString('en-US')} no-op jobs, each contender on a fresh database. Both enqueue through ` +
        `their bulk call, ${p.peerAddJobsBatch} jobs a call from one caller: ours scheduleMany (each job its own stream, written ` +
        'in group commits), while the jobs projection runs as it would in a deployment; the peer addJobs (one INSERT). ' +
        'The drain starts the workers once the enqueue has returned ' +
        'and ends when the last outcome is durable (ours: the outcome event appended; the peer: its queue table empty). ' +
        `Ours wrote ${f.ours.eventsPerJob.toFixed(2)} events per job; its projection had applied every job.scheduled ` +
        `${f.ours.queueReadySeconds.toFixed(1)} s into the drain. Enqueue one job a call from ${p.enqueuers} callers ` +
        `(jobs-throughput-enqueue-single): ours schedule() ${Math.round(f.oursSingle.rate)} jobs/s, the peer addJob ` +
        `${Math.round(f.peerSingle.rate)} jobs/s.`,
      `jobs-latency: ${p.latencyRate} jobs/s offered open loop (a fixed schedule, latency from each job's intended enqueue time) ` +
        `for ${p.latencySeconds} s after ${p.latencyWarmupSeconds} s of warm-up, one worker running throughout. ` +
        latencyNote('ours', f.oursLatency) + ' ' + latencyNote('peer', f.peerLatency),
      `jobs-recovery: a child process ran a node (concurrency ${p.concurrency}, lease ${f.recovery.leaseSeconds} s) whose handlers ` +
        `sleep; it started ${f.recovery.jobs} jobs and was killed with SIGKILL; a node in the bench process (running before the ` +
        `kill, polling every ${p.engine.pollIntervalMs} ms) completed all ${f.recovery.jobs} ${f.recovery.seconds.toFixed(2)} s after ` +
        `the kill: the killed node's last lease ran out ${f.recovery.leaseLeftSeconds.toFixed(2)} s after the kill, then ` +
        `${(f.recovery.seconds - f.recovery.leaseLeftSeconds).toFixed(2)} s to claim and finish them (${f.recovery.takenOver} ` +
        `takeovers recorded). ${GRAPHILE_NAME} frees a dead worker's jobs after 4 hours (locked_at < now() - interval '4 hours' ` +
        'in its SQL; its documentation says jobs of a crashed worker run again "once they expire (after 4 hours by default)").'
    )
  }
  const g = figures.pglite
  if (g !== undefined) {
    notes.push(`PGlite (in memory, one connection: every query of the enqueue, the projection and the claims waits its turn): ` +
      `${g.throughput.jobs.toLocaleString('en-US')} jobs, ${g.throughput.eventsPerJob.toFixed(2)} events per job; latency at ` +
      `${p.pgliteRate} jobs/s offered: ${latencyNote('ours', g.latency)} No peer: graphile-worker needs a PostgreSQL server, and ` +
      'the recovery scenario needs a second process, which PGlite cannot serve.')
  }
  notes.push(`Our engine at the configuration's defaults: ${JSON.stringify(p.engine)}; the peer at its own ` +
    '(pool 10, poll 2000 ms, no local queue, unbatched completion), its per-job success log off (NO_LOG_SUCCESS) and a silent logger.')
  notes.push(`1-min load average ${loads.map((l) => l.toFixed(2)).join(' → ')} (start → end); the cores are shared with other work.`)
  return notes
}

function latencyNote (who: string, f: LatencyFigures): string {
  return `${who}: ${f.startMs.length} of ${f.jobs} jobs started (${describeMs(f.startMs)}); the enqueue call itself ` +
    `${describeMs(f.enqueueMs)}; ${f.enqueueErrors} enqueue errors; the load generator ran up to ${f.maxLagMs.toFixed(1)} ms late.`
}
