/**
 * `ledgerline impersonation list | revoke | support-access`: what on-call
 * needs when an impersonation must stop now (runbooks/impersonation.md).
 * The CLI acts as the system (`cli`), like every command here, through the
 * routes' use cases (src/application/impersonation/use-cases.ts); each
 * revocation and each change of support access is an event in the audit log.
 */
import type { Command } from 'commander'
import { systemCaller } from '../../application/impersonation/access.ts'
import { setSupportAccess } from '../../application/impersonation/support-access.ts'
import { listSessions, revokeSession, revokeSessions } from '../../application/impersonation/use-cases.ts'
import { systemCommand } from '../../domain/envelope.ts'
import type { SessionView, StatusFilter } from '../../projections/impersonation/queries.ts'
import { print, toJson, withRuntime } from '../context.ts'

const STATUSES = ['active', 'pending', 'ended', 'all']

function line (s: SessionView): string {
  const until = s.endedAt ?? s.expiresAt ?? '-'
  const glass = s.breakGlass ? ` break-glass ${s.ticket ?? ''}` : ''
  const who = `${s.impersonatorId} -> ${s.targetUserId}  via ${s.via}${glass}`
  return `${s.sessionId}  ${s.status.padEnd(8)} ${s.orgId}  ${who}  ${s.requestedAt} .. ${until}  ${s.actions} actions  "${s.reason}"`
}

export function impersonationCommand (program: Command): void {
  const group = program.command('impersonation').description('impersonation sessions: list them, end them, turn support access off')

  group.command('list')
    .description('sessions, newest first (all organizations unless --org)')
    .option('--org <orgId>', 'one organization\'s sessions')
    .option('--status <status>', `${STATUSES.join(', ')}`, 'all')
    .option('--limit <n>', 'at most this many', (value) => Number.parseInt(value, 10), 100)
    .option('--json', 'print {"items": [...]}')
    .action(async (options: { org?: string, status: string, limit: number, json?: boolean }) => {
      if (!STATUSES.includes(options.status)) group.error(`--status must be one of ${STATUSES.join(', ')}`, { exitCode: 2 })
      const listing = { status: options.status as StatusFilter, limit: options.limit, current: true }
      const { items } = await withRuntime(async (runtime) =>
        listSessions(runtime.impersonation, systemCommand('cli'), systemCaller('cli', options.org), listing), { runProjections: true })
      if (options.json === true) print(toJson({ items }))
      else print(items.length === 0 ? 'no sessions' : items.map(line).join('\n'))
    })

  group.command('revoke')
    .description('end a session now, or every open one (--all, optionally of one organization)')
    .argument('[sessionId]', 'the session to end')
    .option('--all', 'every open session')
    .option('--org <orgId>', 'with --all: only this organization\'s')
    .requiredOption('--reason <text>', 'why: kept in the audit log')
    .option('--json', 'print {"revoked": [...]}')
    .action(async (sessionId: string | undefined, options: { all?: boolean, org?: string, reason: string, json?: boolean }) => {
      if ((sessionId === undefined) !== (options.all === true)) group.error('give a session id or --all', { exitCode: 2 })
      if (options.org !== undefined && options.all !== true) group.error('--org goes with --all', { exitCode: 2 })
      const reason = options.reason.slice(0, 500)
      const revoked = await withRuntime(async (runtime) => {
        const services = runtime.impersonation
        if (sessionId === undefined) {
          return (await revokeSessions(services, systemCommand('cli'), systemCaller('cli', options.org), reason)).revoked
        }
        const { position } = await revokeSession(services, systemCommand('cli'), systemCaller('cli'), sessionId, reason)
        return position === null ? [] : [sessionId]
      }, { runProjections: true })
      if (options.json === true) print(toJson({ revoked }))
      else print(revoked.length === 0 ? 'nothing to revoke: no open session' : `revoked ${revoked.length}: ${revoked.join(', ')}`)
    })

  group.command('support-access')
    .description('turn support impersonation on or off for an organization; off also ends its open support sessions')
    .argument('<orgId>', 'the organization')
    .argument('<state>', 'on or off')
    .option('--json', 'print {"enabled", "position", "revoked"}')
    .action(async (orgId: string, state: string, options: { json?: boolean }) => {
      if (state !== 'on' && state !== 'off') group.error('the state is on or off', { exitCode: 2 })
      const enabled = state === 'on'
      const result = await withRuntime(async (runtime) =>
        setSupportAccess(runtime.impersonation, { ...systemCommand('cli'), orgId }, orgId, enabled), { runProjections: true })
      if (options.json === true) print(toJson({ enabled, ...result }))
      else print(`support access ${state} for ${orgId}${result.revoked.length === 0 ? '' : `; revoked ${result.revoked.join(', ')}`}`)
    })
}
