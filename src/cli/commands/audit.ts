import type { Command } from 'commander'
import { digestCompleteDays } from '../../application/audit/digests.ts'
import { signingKeyOf } from '../../application/audit/signing-key.ts'
import { verifyAuditLog, type Mismatch, type VerifyReport } from '../../application/audit/verify.ts'
import { print, toJson, withRuntime } from '../context.ts'
import { fail } from '../io.ts'
import { auditExportCommand, auditPurgeCommand, auditRetentionCommand } from './audit-tools.ts'

interface VerifyOptions { org?: string, platform?: boolean, json?: boolean }

const show = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value))

function describeMismatch (m: Mismatch): string {
  const where = m.kind === 'row'
    ? `row ${m.seq}${m.eventId === undefined ? '' : ` (event ${m.eventId})`}`
    : `digest of ${m.day} (last seq ${m.seq})`
  return `mismatch at ${where}, ${m.column}:\n  expected ${show(m.expected)}\n  found    ${show(m.found)}`
}

function describeReport (r: VerifyReport): string {
  const log = r.orgId === null ? 'the platform audit log' : `the audit log of ${r.orgId}`
  if (r.mismatch !== null) return `${log} does not match the event log (checked through ${r.through})\n${describeMismatch(r.mismatch)}`
  const from = r.firstStoredSeq === null ? 'no rows stored' : `${r.rowsChecked} rows from seq ${r.firstStoredSeq}`
  return `${log} matches the event log through ${r.through}: ${from}, ` +
    `${r.digestsChecked} signed digests (key ${r.keyId}), ${r.eventsRead} events replayed`
}

/** `audit`, shared with other audit subcommands that may register it first. */
function auditGroup (program: Command): Command {
  return program.commands.find((command) => command.name() === 'audit') ?? program.command('audit').description('the audit log')
}

export function auditCommand (program: Command): void {
  const audit = auditGroup(program)
  auditExportCommand(audit)
  auditPurgeCommand(audit)
  auditRetentionCommand(audit)
  audit.command('verify')
    .description('recompute an audit log from the event store and compare it, row by row and digest by digest; ' +
      'exits 1 at the first mismatch')
    .option('--org <orgId>', 'the organization whose log to verify')
    .option('--platform', 'verify the platform\'s log (events outside any organization)')
    .option('--json', 'print the report as JSON')
    .action(async (options: VerifyOptions) => {
      if ((options.org === undefined) === (options.platform !== true)) audit.error('give --org <orgId> or --platform', { exitCode: 2 })
      const report = await withRuntime(async ({ sql, store, config, metrics }) =>
        verifyAuditLog({ sql, store, config, metrics }, options.org ?? null))
      print(options.json === true ? toJson(report) : describeReport(report))
      if (!report.ok) fail()
    })

  audit.command('digest')
    .description('sign the daily digests that are due now (days that are over, not yet digested); the server does it every hour')
    .option('--json', 'print the digests written')
    .action(async (options: { json?: boolean }) => {
      const digests = await withRuntime(async ({ sql, config, logger }) =>
        digestCompleteDays(sql, signingKeyOf(config, logger), new Date()))
      if (options.json === true) print(toJson({ digests }))
      else print(`${digests.length} digests signed${digests.length === 0 ? '' : `, through ${digests.map((d) => d.day).sort().at(-1)}`}`)
    })
}
