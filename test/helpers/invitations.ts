/** Membership the way the API grants it: an invitation, accepted by the invitee. */
import type { TestApp } from './app.ts'

/**
 * Invites the holder of `invitee.token` (by their address) with `roles`, as
 * `inviter` (the owner by default), and accepts as them. Answers the accept's
 * body: `{ orgId, userId, roles, position }`.
 */
export async function joinOrg (
  api: TestApp, orgId: string, invitee: { token: string }, roles: string[], inviter: string = api.owner.token
): Promise<{ orgId: string, userId: string, roles: string[], position: string }> {
  const session = await api.call('GET', '/v1/session', { token: invitee.token })
  if (session.statusCode !== 200) throw new Error(`join: the invitee's token does not work: ${session.body}`)
  const invited = await api.call('POST', `/v1/orgs/${orgId}/invitations`,
    { token: inviter, body: { email: session.json().user.email, roles } })
  if (invited.statusCode !== 201) throw new Error(`join: invite ${invited.statusCode} ${invited.body}`)
  const accepted = await api.call('POST', `/v1/invitations/${invited.json().token}/accept`, { token: invitee.token })
  if (accepted.statusCode !== 200) throw new Error(`join: accept ${accepted.statusCode} ${accepted.body}`)
  return accepted.json()
}
