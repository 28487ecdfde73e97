/**
 * `ledgerline drill <scenario>`: drives a running instance into an incident
 * so its alert's metric crosses the threshold, then runs the runbook's
 * verification step (src/ops/drills.ts). Exits 1 when the metric
 * did not cross or the verification failed.
 *
 * What each drill opens: tampered-audit-row and stalled-projection a small
 * client of DATABASE_URL; dead-job a runtime, to schedule a job in the
 * instance's event store: over DATABASE_URL, or, beside an instance on the
 * embedded store, the instance's own (the command runs inside it). Without
 * either it would schedule into a store of its own that no instance reads,
 * so it is refused instead.
 */
import type { Command } from 'commander'
import { withDatabase } from '../../application/database.ts'
import { loadConfig, type Config } from '../../config.ts'
import { runDrill, SCENARIOS, type DrillOptions, type DrillReport, type Scenario } from '../../ops/drills.ts'
import { print, toJson, withRuntime } from '../context.ts'
import { fail, io } from '../io.ts'

interface Options {
  url?: string, token: string, metricsUrl?: string, metricsToken?: string, maxWait: number, hold: number, json?: boolean
}

function describe (r: DrillReport): string {
  const labels = Object.entries(r.labels).map(([k, v]) => `${k}="${v}"`).join(',')
  return [
    `${r.scenario} in ${r.orgId}: ${r.metric}{${labels}} ${r.before} → ${r.peak} (alert ${r.alert} above ${r.threshold}): ` +
      (r.crossed ? 'crossed' : 'NOT crossed'),
    `runbook ${r.runbook}`,
    `verification: ${r.verification.step}: ${r.verification.ok ? 'ok' : 'FAILED'} (${r.verification.detail})`
  ].join('\n')
}

/** The drill's options from the command line and the configuration. */
function drillOptions (options: Options, config: Config): DrillOptions {
  const local = (host: string): string => host === '0.0.0.0' ? '127.0.0.1' : host
  const configured = config.metrics.port === undefined ? undefined : `http://${local(config.metrics.host)}:${config.metrics.port}`
  const metricsUrl = options.metricsUrl ?? configured
  const metricsToken = options.metricsToken ?? config.metrics.token
  return {
    baseUrl: options.url ?? `http://${local(config.host)}:${config.port}`,
    token: options.token,
    ...(metricsUrl === undefined ? {} : { metricsUrl }),
    ...(metricsToken === undefined ? {} : { metricsToken }),
    maxWaitMs: options.maxWait * 1000,
    holdMs: options.hold * 1000,
    log: (line) => io().stderr.write(`${line}\n`)
  }
}

/** Runs the drill with what it opens: a runtime for dead-job, a database client for the drills that change the database. */
async function run (scenario: Scenario, config: Config, drill: DrillOptions): Promise<DrillReport> {
  if (scenario === 'dead-job') {
    const shared = config.databaseUrl !== undefined || io().runtime !== undefined
    if (!shared) return runDrill('dead-job', drill)
    return withRuntime(async (runtime) => runDrill('dead-job', { ...drill, jobs: { sql: runtime.sql, services: runtime.identity } }))
  }
  // Only the drills that change the database open it; PGlite is the server's alone.
  const needsDatabase = scenario === 'tampered-audit-row' || scenario === 'stalled-projection'
  return withDatabase(needsDatabase ? config.databaseUrl : undefined,
    async (sql) => runDrill(scenario, { ...drill, ...(sql === undefined ? {} : { sql }) }))
}

export function drillCommand (program: Command): void {
  program.command('drill')
    .description(`drive a running instance into an incident on purpose (${SCENARIOS.join(', ')}), in an organization of its own`)
    .argument('<scenario>', SCENARIOS.join(' | '))
    .requiredOption('--token <token>', 'an API token of the instance (the drill organization is created with it)')
    .option('--url <url>', 'the instance (default: http://HOST:PORT from the configuration)')
    .option('--metrics-url <url>',
      'where the instance serves /metrics (default: --url, or http://METRICS_HOST:METRICS_PORT when METRICS_PORT is set)')
    .option('--metrics-token <token>', 'the instance\'s METRICS_TOKEN (default: METRICS_TOKEN from the environment)')
    .option('--max-wait <seconds>',
      'stalled-projection: how long to wait for the lag to cross; dead-job, tampered-audit-row: for each job to run; ' +
        'webhook-endpoint-down: for each delivery step; ai-budget-burn: for the gauges to show the burn, then the unblock',
      (v) => Number.parseFloat(v), 120)
    .option('--hold <seconds>',
      'dead-job: how long the job stays dead before the drill retries it; webhook-endpoint-down: how long the endpoint stays ' +
        'disabled before the drill recovers it; ai-budget-burn: how long the organization stays blocked before the drill ' +
        'raises its budget back; so Prometheus scrapes it',
      (v) => Number.parseFloat(v), 60)
    .option('--json', 'print the report as JSON')
    .action(async (scenario: string, options: Options) => {
      if (!(SCENARIOS as readonly string[]).includes(scenario)) {
        program.error(`unknown scenario ${scenario}: one of ${SCENARIOS.join(', ')}`, { exitCode: 2 })
      }
      const config = loadConfig()
      const report = await run(scenario as Scenario, config, drillOptions(options, config))
      print(options.json === true ? toJson(report) : describe(report))
      if (!report.crossed || !report.verification.ok) fail()
    })
}
