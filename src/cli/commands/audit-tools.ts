/**
 * `ledgerline audit export`: an organization's audit log to a file or
 * standard output, as CSV, NDJSON or JSON, with the filters of the API, a
 * chunk of rows at a time, with a progress bar on standard error. The export
 * is recorded in the log it exports, as the system (`cli:audit:export`).
 *
 * `ledgerline audit purge`: the retention purge, now (it also runs hourly in
 * the server; runbooks/audit-retention.md).
 */
import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import type { Writable } from 'node:stream'
import type { Command } from 'commander'
import { recordExport, type ExportFormat } from '../../application/audit/export.ts'
import { systemCommand } from '../../domain/envelope.ts'
import { InvalidInput, domainError } from '../../domain/errors.ts'
import { auditCount, type AuditFilters } from '../../projections/audit/queries.ts'
import { changeOrganization, organizationState } from '../../application/identity/commands.ts'
import { retentionView } from '../../domain/audit/retention.ts'
import { OrgNotFound } from '../../domain/identity/errors.ts'
import type { Runtime } from '../../runtime.ts'
import { print, toJson, withRuntime } from '../context.ts'
import { progress } from '../progress.ts'
import { callerPath, io } from '../io.ts'
import { canonicalTimestamp } from '../../domain/timestamps.ts'

interface Options {
  org: string
  format: string
  out?: string
  action?: string
  actor?: string
  targetType?: string
  targetId?: string
  trace?: string
  from?: string
  to?: string
}

const FORMATS: readonly ExportFormat[] = ['csv', 'ndjson', 'json']

class PurgeRunning extends domainError('audit.purge_running', 409, 'another process is purging the audit log now; try again in a moment') {}

/** `--from`/`--to` as the HTTP query takes them: a date (midnight UTC) or an ISO time, within what PostgreSQL keeps. */
function instantOption (name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const canonical = canonicalTimestamp(value)
  const message = 'a date (2026-01-31) or an ISO time (2026-01-31T00:00:00Z), between years 1 and 9999'
  if (canonical === undefined) throw new InvalidInput([{ path: name, message }])
  return canonical
}

function filtersOf (options: Options): AuditFilters & Record<string, string> {
  const filters: Record<string, string | undefined> = {
    action: options.action, actorId: options.actor, targetType: options.targetType, targetId: options.targetId, traceId: options.trace,
    from: instantOption('--from', options.from),
    to: instantOption('--to', options.to)
  }
  return Object.fromEntries(Object.entries(filters).filter((entry): entry is [string, string] => entry[1] !== undefined))
}

/** Rows exported, rows/s and ETA. */
function rowsProgress (total: number): { add: (rows: number) => void, stop: () => void } {
  const started = Date.now()
  let done = 0
  const shown = progress('export [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_formatted}', total, { rate: 0 },
    (value, { rate }) => `export ${value}/${total} rows, ${rate} rows/s`)
  return {
    add (rows) {
      done += rows
      shown.update(done, { rate: Math.round(done / Math.max(0.001, (Date.now() - started) / 1000)) })
    },
    stop: () => shown.stop()
  }
}

/**
 * The audit read model as of now: this process runs the projections (it
 * leads them on an embedded store; a server on PostgreSQL may lead instead)
 * and waits until they have applied the log.
 */
async function caughtUp (runtime: Runtime): Promise<void> {
  const everything = await runtime.store.committedHeadPosition()
  await runtime.runner.waitFor(everything, Math.max(runtime.config.consistencyTimeoutMs, 60_000), ['audit'])
}

async function write (out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain')
}

export function auditExportCommand (audit: Command): void {
  audit.command('export')
    .description('export an organization\'s audit log in log order (CSV cells a spreadsheet would run are neutralized)')
    .requiredOption('--org <orgId>', 'the organization')
    .option('--format <format>', 'csv, ndjson or json', 'csv')
    .option('--out <file>', 'write to this file (default: standard output)')
    .option('--action <action>', 'an event type, or a prefix ending in .* (rbac.*)')
    .option('--actor <actorId>', 'rows of this actor')
    .option('--target-type <type>', 'rows about this kind of target')
    .option('--target-id <id>', 'rows about this target')
    .option('--trace <traceId>', 'rows of this trace')
    .option('--from <time>', 'occurred at or after (ISO time)')
    .option('--to <time>', 'occurred before (ISO time)')
    .action(async (options: Options) => {
      if (!(FORMATS as readonly string[]).includes(options.format)) {
        throw new InvalidInput([{ path: '--format', message: 'csv, ndjson or json' }])
      }
      const format = options.format as ExportFormat
      const filters = filtersOf(options)
      await withRuntime(async (runtime) => {
        const metadata = { ...systemCommand('cli:audit:export'), orgId: options.org }
        const exported = await recordExport(runtime, metadata, { orgId: options.org, format, filters })
        // The export holds its own record: the read model is waited for after it was written.
        await caughtUp(runtime)
        const bar = rowsProgress(await auditCount(runtime.sql, options.org, filters))
        const out = options.out === undefined ? io().stdout : createWriteStream(callerPath(options.out))
        try {
          for await (const text of exported.pieces(bar.add)) await write(out, text)
        } finally {
          bar.stop()
          if (options.out !== undefined) {
            out.end()
            await once(out, 'finish')
          }
        }
      }, { runProjections: true })
    })
}

export function auditPurgeCommand (audit: Command): void {
  audit.command('purge')
    .description('remove audit rows past their organization\'s retention now, by audited purge events (the server also does it hourly)')
    .option('--json', 'print the purges as JSON')
    .action(async (options: { json?: boolean }) => {
      await withRuntime(async (runtime) => {
        await caughtUp(runtime)
        const purges = await runtime.auditRetention.runOnce()
        if (purges === undefined) throw new PurgeRunning()
        if (options.json === true) print(toJson({ purges }))
        else if (purges.length === 0) print('nothing past retention')
        else for (const purge of purges) print(`${purge.orgId ?? 'platform'}: rows through ${purge.throughSeq} (${purge.rows}) purged`)
      }, { runProjections: true })
    })
}

export function auditRetentionCommand (audit: Command): void {
  audit.command('retention')
    .description('show an organization\'s audit retention, or set it within what its plan allows (the CLI acts as the system)')
    .requiredOption('--org <orgId>', 'the organization')
    .option('--days <days>', 'keep this many days', (value) => Number.parseInt(value, 10))
    .option('--default', 'go back to the plan\'s default')
    .option('--json', 'print {"days", "setting", "plan", "default", "min", "max"}')
    .action(async (options: { org: string, days?: number, default?: boolean, json?: boolean }) => {
      if (options.days !== undefined && options.default === true) {
        throw new InvalidInput([{ path: '--days', message: 'give --days or --default, not both' }])
      }
      if (options.days !== undefined && !Number.isInteger(options.days)) {
        throw new InvalidInput([{ path: '--days', message: 'a whole number of days' }])
      }
      await withRuntime(async (runtime) => {
        if (options.days !== undefined || options.default === true) {
          const metadata = { ...systemCommand('cli:audit:retention'), orgId: options.org }
          const change = { type: 'SetAuditRetention', data: { days: options.days ?? null } } as const
          await changeOrganization(runtime.identity, metadata, options.org, change)
        }
        const state = await organizationState(runtime.identity, options.org)
        if (state.status !== 'active') throw new OrgNotFound()
        const view = retentionView(state.plan, state.auditRetentionDays)
        const setting = view.setting === null ? `the ${view.plan} plan's default` : `set to ${view.setting}`
        const text = `${options.org}: ${view.days} days kept (${setting}; the plan allows ${view.min} to ${view.max})`
        print(options.json === true ? toJson(view) : text)
      })
    })
}
