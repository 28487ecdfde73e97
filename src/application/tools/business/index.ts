/** Ledgerline's own tools: every runtime registers them (src/runtime.ts). */
import type { AnyTool } from '../tool.ts'
import { accessWhoCan, authzExplain, rolesList } from './access.ts'
import { auditSearch } from './audit.ts'
import { impersonationList } from './impersonation.ts'
import { membersInvite, membersList, membersRemove, rolesAssign } from './members.ts'
import { orgGet, orgRename } from './org.ts'
import { usersGet } from './users.ts'

export function applicationTools (): AnyTool[] {
  return [
    orgGet, membersList, usersGet, rolesList, accessWhoCan, authzExplain, auditSearch, impersonationList,
    orgRename, membersInvite, membersRemove, rolesAssign
  ] as AnyTool[]
}
