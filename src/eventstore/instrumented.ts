/**
 * The event store port, measured: every append's duration and failure
 * reason, and the governance facts its events carry (role changes,
 * impersonation). The runtime wraps whichever adapter it opened, so appends
 * from HTTP, the CLI and reactors are all counted, and the adapters stay
 * unaware of metrics.
 */
import { performance } from 'node:perf_hooks'
import { InvalidEventData, UnknownEventType } from '../domain/errors.ts'
import { EventTooLarge, InvalidStreamId, StoreUnavailable, WrongExpectedVersion } from './errors.ts'
import type { AppendReason, Metrics } from '../metrics.ts'
import type { AppendResult, EventStore, NewEvent } from './types.ts'

export function instrumentedStore (store: EventStore, metrics: Metrics): EventStore {
  return {
    kind: store.kind,
    async append (streamId, events, options) {
      const started = performance.now()
      try {
        const result = await store.append(streamId, events, options)
        counted(metrics, streamId, events, { status: 'fulfilled', value: result }, (performance.now() - started) / 1000)
        return result
      } catch (error) {
        counted(metrics, streamId, events, { status: 'rejected', reason: error }, (performance.now() - started) / 1000)
        throw error
      }
    },
    async appendMany (appends) {
      const started = performance.now()
      const results = await store.appendMany(appends)
      // One round trip for all: each append is counted with the batch's duration.
      const seconds = (performance.now() - started) / 1000
      results.forEach((result, index) => { counted(metrics, appends[index]!.streamId, appends[index]!.events, result, seconds) })
      return results
    },
    readStream: (streamId, options) => store.readStream(streamId, options),
    streamVersion: (streamId) => store.streamVersion(streamId),
    readAll: (from, options) => store.readAll(from, options),
    headPosition: () => store.headPosition(),
    committedHeadPosition: () => store.committedHeadPosition(),
    subscribe: (from, options) => store.subscribe(from, options),
    onAppend: (listener) => store.onAppend(listener),
    close: () => store.close()
  }
}

/** One append's outcome: its duration, its failure's reason, or the governance facts its events carry. */
function counted (
  metrics: Metrics, streamId: string, events: readonly NewEvent[], outcome: PromiseSettledResult<AppendResult>, seconds: number
): void {
  if (outcome.status === 'rejected') {
    metrics.appendFailed(reasonOf(outcome.reason), seconds)
    return
  }
  metrics.appended(seconds)
  // A replay wrote nothing now: its events were counted when they were.
  if (outcome.value.replayed !== true) for (const event of events) countEvent(metrics, streamId, event)
}

function reasonOf (error: unknown): AppendReason {
  if (error instanceof WrongExpectedVersion) return 'conflict'
  if (error instanceof StoreUnavailable) return 'unavailable'
  const invalid = [InvalidEventData, UnknownEventType, EventTooLarge, InvalidStreamId]
  if (invalid.some((type) => error instanceof type)) return 'invalid'
  return 'other'
}

/** Role and membership changes: what an access review or an alert on privilege churn counts. */
const ROLE_CHANGES = new Set(['org.member.role_assigned', 'org.member.role_unassigned', 'org.member.added', 'org.member.removed'])

/** Data fields read here only, so a loose view of it; the registry validated it before the append. */
type Data = Record<string, unknown> | undefined

/** What each impersonation session event counts (a Map: event types are caller input until the registry checked them). */
const SESSION_COUNTS = new Map<string, (metrics: Metrics, data: Data) => void>([
  ['impersonation.session.requested', (metrics, data) => { if (data?.breakGlass === true) metrics.breakGlass('requested') }],
  ['impersonation.session.approved', (metrics) => { metrics.breakGlass('approved') }],
  ['impersonation.session.started', (metrics, data) => {
    metrics.impersonationStarted(data?.via === 'support' || data?.via === 'member' ? data.via : 'other', data?.critical === true)
    if (data?.breakGlass === true) metrics.breakGlass('started')
  }],
  ['impersonation.session.denied', (metrics, data) => {
    metrics.impersonationDenied(typeof data?.reason === 'string' && data.reason.length <= 64 ? data.reason : 'other')
  }]
])

function countEvent (metrics: Metrics, streamId: string, event: NewEvent): void {
  const type = event.type
  if (type.startsWith('rbac.role.') || ROLE_CHANGES.has(type)) {
    metrics.roleChanged(event.metadata.orgId ?? (streamId.startsWith('org-') ? streamId.slice(4) : 'unknown'))
    return
  }
  SESSION_COUNTS.get(type)?.(metrics, event.data as Data)
}
