/** Audit chains of a chosen size, built with a few appends rather than one command per row. */
import { accessStreamId } from '../../src/application/audit/access.ts'
import { metadataFor, systemCommand } from '../../src/domain/envelope.ts'
import type { EventStore, NewEvent } from '../../src/eventstore/types.ts'

const BATCH = 500

/**
 * Appends `count` audit-only events that make rows of one chain: searches of
 * `orgId`'s log, or sign-ins (the platform's log) for null. Row i (from 0) is
 * dated `at(i)` and done by the system actor `actor`. A few appends of BATCH
 * events each, not one per row.
 */
export async function appendChain (runtime: { store: EventStore }, orgId: string | null, count: number, at: (i: number) => Date,
  actor = 'boundaries'): Promise<void> {
  const streamId = accessStreamId(orgId ?? 'boundary-user')
  for (let start = 0; start < count; start += BATCH) {
    const events: NewEvent[] = []
    for (let i = start; i < Math.min(count, start + BATCH); i++) {
      const command = { ...systemCommand(actor, at(i)), ...(orgId === null ? {} : { orgId }) }
      const metadata = metadataFor(command, 0)
      events.push(orgId === null
        ? { id: metadata.eventId, type: 'identity.session.signed_in',
          data: { userId: 'boundary-user', tokenId: `token-${i}`, method: 'password' }, metadata }
        : { id: metadata.eventId, type: 'audit.log.searched', data: { orgId, filters: { n: i } }, metadata })
    }
    await runtime.store.append(streamId, events, { expectedVersion: 'any' })
  }
}

