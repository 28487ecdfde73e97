/**
 * `ledgerline members invitations <orgId> [--status …] [--json]` and
 * `ledgerline members invitations revoke <orgId> <inviteId> --reason …`: an
 * organization's invitations, and withdrawing one. The CLI acts as the system
 * (`cli`), like every command here; a revocation is an event in the audit log.
 */
import type { Command } from 'commander'
import { invitationServices, listInvitations, revokeInvitation } from '../../application/identity/invitations.ts'
import { systemCommand } from '../../domain/envelope.ts'
import { INVITATION_STATUSES, type InvitationStatusFilter, type InvitationView } from '../../projections/identity/invitation-queries.ts'
import { print, toJson, withRuntime } from '../context.ts'

function line (i: InvitationView): string {
  const ended = i.endedAt === null ? `expires ${i.expiresAt}` : `${i.status} ${i.endedAt}${i.endedBy === null ? '' : ` by ${i.endedBy}`}`
  return `${i.inviteId}  ${i.status.padEnd(8)} ${i.email}  ${i.roles.join(',')}  invited by ${i.invitedBy} ${i.createdAt}  ` +
    `${ended}${i.reason === null ? '' : `  "${i.reason}"`}`
}

export function membersCommand (program: Command): void {
  const group = program.command('members').description('members of an organization: their invitations')

  const invitations = group.command('invitations')
    .description('an organization\'s invitations, newest first')
    .argument('<orgId>', 'the organization')
    .option('--status <status>', INVITATION_STATUSES.join(', '))
    .option('--limit <n>', 'at most this many', (value) => Number.parseInt(value, 10), 200)
    .option('--json', 'print {"items": [...]}')
    .action(async (orgId: string, options: { status?: string, limit: number, json?: boolean }) => {
      const status = options.status
      if (status !== undefined && !(INVITATION_STATUSES as readonly string[]).includes(status)) {
        invitations.error(`--status must be one of ${INVITATION_STATUSES.join(', ')}`, { exitCode: 2 })
      }
      if (!Number.isInteger(options.limit) || options.limit < 1) invitations.error('--limit must be a positive integer', { exitCode: 2 })
      const items = await withRuntime(async (runtime) => {
        const services = invitationServices(runtime)
        await services.waitForInvitations()
        return listInvitations(services, orgId, {
          limit: options.limit, now: new Date(), ...(status === undefined ? {} : { status: status as InvitationStatusFilter })
        })
      }, { runProjections: true })
      if (options.json === true) print(toJson({ items }))
      else print(items.length === 0 ? 'no invitations' : items.map(line).join('\n'))
    })

  invitations.command('revoke')
    .description('withdraw a pending invitation: its token stops working')
    .argument('<orgId>', 'the organization')
    .argument('<inviteId>', 'the invitation')
    .requiredOption('--reason <text>', 'why: kept in the audit log')
    .option('--json', 'print {"inviteId", "position"}')
    .action(async (orgId: string, inviteId: string, _options: unknown, command: Command) => {
      // `--json` is also the listing's option: after `revoke`, commander may hand it to either.
      const options = command.optsWithGlobals<{ reason: string, json?: boolean }>()
      const { position } = await withRuntime(async (runtime) =>
        revokeInvitation(invitationServices(runtime), { ...systemCommand('cli'), orgId }, orgId, inviteId, options.reason.slice(0, 500)))
      if (options.json === true) print(toJson({ inviteId, position }))
      else print(position === null ? `${inviteId} was already revoked` : `revoked ${inviteId}`)
    })
}
