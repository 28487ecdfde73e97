/**
 * `ledgerline webhooks replay --source <stripe|sourceId> [--from ISO] [--to ISO] [--dry-run] [--json]`:
 * processing run again over a source's stored messages, in the order they
 * were received (src/application/webhooks/inbound/replay.ts). Idempotent: a
 * second replay changes nothing. `--dry-run` writes nothing and lists what
 * would change. The messages are read from the inbound read model, waited
 * for first (the projections run in this process when nobody else leads
 * them); the job runner is not started.
 *
 * A progress bar on a terminal's standard error (a line every 5 s
 * otherwise); with `--json`, one JSON summary on standard output, with the
 * messages that changed or would change.
 */
import type { Command } from 'commander'
import type { Processing } from '../../application/webhooks/inbound/process.ts'
import { replayMessages } from '../../application/webhooks/inbound/replay.ts'
import { INBOUND_READ_MODEL, processServicesOf } from '../../application/webhooks/inbound/services.ts'
import { InvalidInput } from '../../domain/errors.ts'
import { SourceId } from '../../domain/webhooks/inbound-events.ts'
import { pgTimestamp } from '../../domain/values.ts'
import { countMessages } from '../../projections/webhooks/inbound-queries.ts'
import type { Runtime } from '../../runtime.ts'
import { print, toJson, withRuntime } from '../context.ts'
import { progress } from '../progress.ts'

interface ReplayOptions { source: string, from?: string, to?: string, dryRun?: boolean, json?: boolean }

/** An instant as the options give it, or a refusal naming the option. */
function instant (option: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const parsed = pgTimestamp.safeParse(value)
  if (!parsed.success) {
    throw new InvalidInput([{ path: `--${option}`, message: `must be an ISO 8601 date or date and time, not ${JSON.stringify(value)}` }])
  }
  return parsed.data
}

async function caughtUp (runtime: Runtime): Promise<void> {
  runtime.runner.start()
  const everything = await runtime.store.committedHeadPosition()
  await runtime.runner.waitFor(everything, Math.max(runtime.config.consistencyTimeoutMs, 60_000), [INBOUND_READ_MODEL])
}

const describe = (p: Processing): string =>
  `${p.messageId}  ${p.eventType ?? '-'}  ${p.outcome}${p.reason === null ? '' : ` (${p.reason})`}: ${p.changes.join('; ')}`

/** Adds `replay` to the `webhooks` command group. */
export function webhooksReplayCommand (webhooks: Command): void {
  webhooks.command('replay')
    .description('run processing again over a source\'s stored messages, in the order received (idempotent)')
    .requiredOption('--source <source>', '"stripe", or a Standard Webhooks source id (whs_…)')
    .option('--from <instant>', 'only messages received at or after this ISO time')
    .option('--to <instant>', 'only messages received before this ISO time')
    .option('--dry-run', 'write nothing; say what would change')
    .option('--json', 'print the result as JSON')
    .action(async (options: ReplayOptions) => {
      if (!SourceId.safeParse(options.source).success) {
        throw new InvalidInput([{ path: '--source', message: 'must be stripe or a source id (whs_…)' }])
      }
      const from = instant('from', options.from)
      const to = instant('to', options.to)
      const changed: Processing[] = []
      const summary = await withRuntime(async (runtime) => {
        await caughtUp(runtime)
        const window = { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) }
        const total = await countMessages(runtime.sql, options.source, window)
        const bar = progress('replay [{bar}] {value}/{total} messages | {changed} changed', Math.max(total, 1), { changed: 0 },
          (value, { changed: count }: { changed: number }) => `replay ${value} messages, ${count} changed`)
        try {
          return await replayMessages(processServicesOf(runtime), options.source, {
            ...window, dryRun: options.dryRun === true,
            onMessage (processing, done) {
              if (processing.changes.length > 0) changed.push(processing)
              bar.update(done, { changed: changed.length })
            }
          })
        } finally {
          bar.stop()
        }
      })
      if (options.json === true) {
        print(toJson({ ...summary, changes: changed.map(({ streamId, messageId, eventType, outcome, reason, changes }) =>
          ({ streamId, messageId, eventType, outcome, reason, changes })) }))
        return
      }
      const verb = summary.dryRun ? 'would change' : 'changed'
      print(`replayed ${summary.messages} messages of ${summary.sourceId}${summary.dryRun ? ' (dry run, nothing written)' : ''}: ` +
        `${summary.applied} applied, ${summary.skipped} skipped, ${summary.changed} ${verb}`)
      for (const processing of changed) print(`  ${describe(processing)}`)
    })
}
