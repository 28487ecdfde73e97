/**
 * The KurrentDB (EventStoreDB) event store. Same semantics as the PostgreSQL
 * adapter (see types.ts); what KurrentDB does not give as such is built in
 * `kurrentdb/`:
 * - stream version = revision + 1, log position = (commit, prepare) (`mapping.ts`);
 * - exact idempotency of re-appends, within a bounded window (`appending.ts`);
 * - readAll positions that move past filtered-out events (`reading.ts`);
 * - wake-ups of subscribers on appends from any node (`live-appends.ts`);
 * - connection failures as StoreUnavailable (`connection.ts`).
 * Needs KurrentDB or EventStoreDB 22.6 or later: older servers leave the log
 * position of events read from a stream empty.
 */
import { KurrentDBClient, START as FROM_START } from '@kurrent/kurrentdb-client'
import type { EventRegistry } from '../domain/registry.ts'
import { appender, serializedByKey } from './kurrentdb/appending.ts'
import { guard } from './kurrentdb/connection.ts'
import { liveAppendNotifier } from './kurrentdb/live-appends.ts'
import { recordedFrom, toStreamState } from './kurrentdb/mapping.ts'
import { headPosition, lastVersion, readAllPage, streamReader } from './kurrentdb/reading.ts'
import { catchUpSubscription } from './subscription.ts'
import { appendEach, type EventStore, type ReadAllOptions, type ReadStreamOptions, type Subscription } from './types.ts'
import { MAX_PAGE, assertStreamId, pageSize, prepareAppend } from './validation.ts'

export function createKurrentDbEventStore (options: { connectionString: string, registry: EventRegistry }): EventStore {
  const { registry } = options
  const client = KurrentDBClient.connectionString(options.connectionString)
  const notifier = liveAppendNotifier(client)
  const subscriptions = new Set<Subscription>()
  const oneAtATime = serializedByKey()
  const readStreamOrEmpty = streamReader(client)
  const appendPrepared = appender(client, readStreamOrEmpty)
  const toRecorded = recordedFrom(registry)

  const store: EventStore = {
    kind: 'kurrentdb',

    async append (streamId, events, appendOptions = {}) {
      const prepared = prepareAppend(registry, streamId, events)
      const expected = appendOptions.expectedVersion ?? 'any'
      toStreamState(expected) // rejects a malformed expected version before any round trip
      const result = await guard(() => oneAtATime(streamId, () => appendPrepared(streamId, prepared, expected)))
      notifier.notify()
      return result
    },

    // The server groups concurrent writes into its own commits; each append goes out as it would alone.
    appendMany: (appends) => appendEach(store, appends),

    async readStream (streamId, readOptions: ReadStreamOptions = {}) {
      assertStreamId(streamId)
      // No limit reads the whole rest of the stream (the client's default): a decider must fold all of it.
      const limit = readOptions.limit === undefined ? {} : { maxCount: pageSize(readOptions.limit, MAX_PAGE) }
      const after = readOptions.fromVersion ?? 0n
      // Version v is revision v - 1, so "version > after" starts at revision `after`.
      const events = await guard(() => readStreamOrEmpty(streamId, { fromRevision: after > 0n ? after : FROM_START, ...limit }))
      return events.map(toRecorded)
    },

    async streamVersion (streamId) {
      assertStreamId(streamId)
      return guard(() => lastVersion(readStreamOrEmpty, streamId))
    },

    readAll: (from, readOptions: ReadAllOptions = {}) => guard(() => readAllPage(client, from, readOptions, toRecorded)),

    headPosition: () => guard(() => headPosition(client)),
    committedHeadPosition: () => guard(() => headPosition(client)),

    subscribe (from, subscribeOptions) {
      const subscription = catchUpSubscription(store, from, subscribeOptions)
      subscriptions.add(subscription)
      return {
        [Symbol.asyncIterator]: () => subscription[Symbol.asyncIterator](),
        async close () {
          subscriptions.delete(subscription)
          await subscription.close()
        }
      }
    },

    onAppend: (listener) => notifier.add(listener),

    async close () {
      await Promise.allSettled([...subscriptions].map((subscription) => subscription.close()))
      subscriptions.clear()
      await notifier.stop()
      await client.dispose()
    }
  }
  return store
}
