/**
 * bench:assistant's member: a conversation of its own for each message (created before the timing starts), and the
 * request that sends the message, for the SSE reader to time.
 */

export interface AssistantClient {
  /** Creates a conversation; answers the request that sends `text` to it. */
  newMessage(text: string): Promise<{ url: string, headers: Record<string, string>, body: unknown }>
}

/** The owner's client, with the organization's quotas raised out of the way (a quota that refuses would measure itself). */
export async function openAssistantClient (serverUrl: string, owner: { orgId: string, token: string }): Promise<AssistantClient> {
  const headers = { authorization: `Bearer ${owner.token}` }
  await raiseQuotas(`${serverUrl}/v1/orgs/${owner.orgId}/ai/quotas`, headers)
  const conversations = `${serverUrl}/v1/orgs/${owner.orgId}/assistant/conversations`
  return {
    async newMessage (text) {
      const response = await fetch(conversations, {
        method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}'
      })
      if (response.status !== 201) throw new Error(`creating a conversation answered ${response.status}: ${await response.text()}`)
      const { conversationId } = await response.json() as { conversationId: string }
      return { url: `${conversations}/${conversationId}/messages`, headers, body: { text } }
    }
  }
}

async function raiseQuotas (url: string, headers: Record<string, string>): Promise<void> {
  const response = await fetch(url, {
    method: 'PUT', headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ requestsPerMinute: 10_000, tokensPerDay: 10_000_000_000 })
  })
  if (response.status !== 200) throw new Error(`raising the quotas answered ${response.status}: ${await response.text()}`)
  const { position } = await response.json() as { position: string }
  // The quota check reads the organization's settings from a read model: wait until it has the change.
  const deadline = Date.now() + 60_000
  for (;;) {
    const read = await fetch(url, { headers: { ...headers, 'x-consistent-with': position } })
    if (read.status === 200) return
    if (read.status !== 504 || Date.now() > deadline) throw new Error(`reading the quotas answered ${read.status}: ${await read.text()}`)
  }
}
