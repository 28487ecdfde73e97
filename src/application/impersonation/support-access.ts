/**
 * Support access: whether platform support staff may impersonate the
 * organization's members. Turning it off also ends every support session in
 * the organization now, rather than at each one's next request.
 */
import { uuidV5, type CommandMetadata } from '../../domain/envelope.ts'
import { OrgNotFound } from '../../domain/identity/errors.ts'
import { changeOrganization, organizationState } from '../identity/commands.ts'
import { revokeAll, type ImpersonationServices } from './commands.ts'

/** Whether support access is on in the organization (which must exist, and not be closed). */
export async function supportAccessOf (services: ImpersonationServices, orgId: string): Promise<{ enabled: boolean }> {
  const state = await organizationState(services, orgId)
  if (state.status !== 'active') throw new OrgNotFound()
  return { enabled: state.supportAccess }
}

export async function setSupportAccess (
  services: ImpersonationServices, metadata: CommandMetadata, orgId: string, enabled: boolean
): Promise<{ position: string | null, revoked: string[] }> {
  const result = await changeOrganization(services, metadata, orgId, { type: 'SetSupportAccess', data: { enabled } })
  if (enabled) return { ...result, revoked: [] }
  const revocations = { ...metadata, commandId: uuidV5(`${metadata.commandId}/revoke-support`) }
  const { revoked, position } = await revokeAll(services, revocations, metadata.actor.id,
    { orgId, via: 'support' }, { code: 'support_access_disabled' })
  // The revocations come after the change: their position, when there were any, covers both.
  return { position: position ?? result.position, revoked }
}
