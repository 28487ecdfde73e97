/** Ledgerline's own tools: every runtime registers them (src/runtime.ts). */
import type { Billing } from '../../billing/stripe.ts'
import type { AnyTool } from '../tool.ts'
import { accessWhoCan, authzExplain, rolesList } from './access.ts'
import { auditSearch } from './audit.ts'
import { billingTools } from './billing.ts'
import { impersonationList } from './impersonation.ts'
import { membersInvite, membersList, membersRemove, rolesAssign } from './members.ts'
import { orgGet, orgRename } from './org.ts'
import { usersGet } from './users.ts'

/** What the tools run against beyond the services every body gets: the runtime's Stripe client, absent when not configured. */
export interface ApplicationToolOptions {
  readonly billing?: Billing | undefined
}

export function applicationTools ({ billing }: ApplicationToolOptions = {}): AnyTool[] {
  return [
    orgGet, membersList, usersGet, rolesList, accessWhoCan, authzExplain, auditSearch, impersonationList,
    orgRename, membersInvite, membersRemove, rolesAssign,
    ...billingTools(billing)
  ] as AnyTool[]
}
