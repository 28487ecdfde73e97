/**
 * `ledgerline drill <scenario>`: drives a running instance into an incident
 * so its alert's metric crosses the threshold, then runs the runbook's
 * verification step (src/ops/drills.ts). Exits 1 when the metric
 * did not cross or the verification failed.
 */
import type { Command } from 'commander'
import { withDatabase } from '../../application/database.ts'
import { loadConfig } from '../../config.ts'
import { runDrill, SCENARIOS, type DrillReport, type Scenario } from '../../ops/drills.ts'
import { print, toJson } from '../context.ts'

interface Options { url?: string, token: string, metricsUrl?: string, metricsToken?: string, maxWait: number, json?: boolean }

function describe (r: DrillReport): string {
  const labels = Object.entries(r.labels).map(([k, v]) => `${k}="${v}"`).join(',')
  return [
    `${r.scenario} in ${r.orgId}: ${r.metric}{${labels}} ${r.before} → ${r.peak} (alert ${r.alert} above ${r.threshold}): ` +
      (r.crossed ? 'crossed' : 'NOT crossed'),
    `runbook ${r.runbook}`,
    `verification: ${r.verification.step}: ${r.verification.ok ? 'ok' : 'FAILED'} (${r.verification.detail})`
  ].join('\n')
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
    .option('--max-wait <seconds>', 'stalled-projection: how long to wait for the lag to cross', (v) => Number.parseFloat(v), 120)
    .option('--json', 'print the report as JSON')
    .action(async (scenario: string, options: Options) => {
      if (!(SCENARIOS as readonly string[]).includes(scenario)) {
        program.error(`unknown scenario ${scenario}: one of ${SCENARIOS.join(', ')}`, { exitCode: 2 })
      }
      const config = loadConfig()
      const local = (host: string): string => host === '0.0.0.0' ? '127.0.0.1' : host
      const baseUrl = options.url ?? `http://${local(config.host)}:${config.port}`
      const configured = config.metrics.port === undefined ? undefined : `http://${local(config.metrics.host)}:${config.metrics.port}`
      const metricsUrl = options.metricsUrl ?? configured
      const metricsToken = options.metricsToken ?? config.metrics.token
      // Only the drills that change the database open it; PGlite is the server's alone.
      const needsDatabase = scenario === 'tampered-audit-row' || scenario === 'stalled-projection'
      const report = await withDatabase(needsDatabase ? config.databaseUrl : undefined, async (sql) => runDrill(scenario as Scenario, {
        baseUrl,
        token: options.token,
        ...(metricsUrl === undefined ? {} : { metricsUrl }),
        ...(metricsToken === undefined ? {} : { metricsToken }),
        maxWaitMs: options.maxWait * 1000,
        ...(sql === undefined ? {} : { sql }),
        log: (line) => process.stderr.write(`${line}\n`)
      }))
      print(options.json === true ? toJson(report) : describe(report))
      if (!report.crossed || !report.verification.ok) process.exitCode = 1
    })
}
