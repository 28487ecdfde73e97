/**
 * `ledgerline preflight`: the checks an on-call engineer runs before a
 * deployment takes traffic (src/ops/preflight.ts); a table, or
 * `--json` for scripts; exits 1 when a check fails (warnings do not).
 */
import type { Command } from 'commander'
import { runPreflight, type Check, type PreflightReport } from '../../ops/preflight.ts'
import { ConfigError, loadConfig } from '../../config.ts'
import { cliLogger, print, toJson } from '../context.ts'
import { callerPath, fail } from '../io.ts'

interface Options { production?: boolean, json?: boolean, rules?: string, runbooks?: string, timeout: string, auditBudget: string }

const status = (check: Check): string => (check.ok ? 'ok' : check.severity === 'fail' ? 'FAIL' : 'warn')

function table (report: PreflightReport): string {
  const width = Math.max(...report.checks.map((check) => check.name.length))
  const lines = report.checks.map((check) => `${check.name.padEnd(width)}  ${status(check).padEnd(6)}  ${check.detail}`)
  const failed = report.checks.filter((check) => status(check) === 'FAIL').length
  const warned = report.checks.filter((check) => status(check) === 'warn').length
  return [`${'check'.padEnd(width)}  status  detail`, ...lines, '',
    `preflight ${report.ok ? 'passed' : 'FAILED'}: ${failed} failed, ${warned} warnings, ${report.checks.length} checks`].join('\n')
}

function seconds (value: string, option: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${option} must be a positive number of seconds`)
  return n * 1000
}

async function preflight (options: Options): Promise<PreflightReport> {
  let config
  try {
    config = loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    // An invalid configuration is a finding like the others, not a crash.
    return {
      ok: false,
      checks: [{
        name: 'config.valid', ok: false, severity: 'fail',
        detail: error.message.replace(/^invalid configuration:\s*/, '').replace(/\s*\n\s*/g, '; ')
      }]
    }
  }
  return runPreflight(config, {
    production: options.production === true,
    logger: cliLogger(config),
    rulesFile: options.rules === undefined ? undefined : callerPath(options.rules),
    runbooksDir: options.runbooks === undefined ? undefined : callerPath(options.runbooks),
    timeoutMs: seconds(options.timeout, '--timeout'),
    auditBudgetMs: seconds(options.auditBudget, '--audit-budget')
  })
}

export function preflightCommand (program: Command): void {
  program.command('preflight')
    .description('check configuration, database, migrations, event store, projections, audit chains, retention and alert rules ' +
      'before a deployment takes traffic; exits 1 when a check fails')
    .option('--production', 'judge the configuration as production whatever NODE_ENV says (and require NODE_ENV=production)')
    .option('--json', 'print {"ok", "checks": [{"name", "ok", "severity", "detail"}]}')
    .option('--rules <file>', 'the Prometheus alert rules (default infra/prometheus/alerts.yml)')
    .option('--runbooks <dir>', 'the runbooks directory (default runbooks/)')
    .option('--timeout <seconds>', 'bound on each step that waits on a server', '10')
    .option('--audit-budget <seconds>', 'time for verifying audit chains; chains left are reported unverified', '60')
    .action(async (options: Options) => {
      const report = await preflight(options)
      print(options.json === true ? toJson(report) : table(report))
      if (!report.ok) fail()
    })
}
