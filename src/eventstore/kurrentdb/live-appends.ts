/**
 * Wakes the store's subscribers when something was appended, from any node:
 * one live KurrentDB subscription to $all, shared by every listener.
 */
import { setImmediate } from 'node:timers'
import { END, excludeSystemEvents } from '@kurrent/kurrentdb-client'
import type { AllStreamSubscription, KurrentDBClient } from '@kurrent/kurrentdb-client'

const RETRY_MIN_MS = 100
const RETRY_MAX_MS = 5000

export interface AppendNotifier {
  add(listener: () => void): () => void
  notify(): void
  stop(): Promise<void>
}

/**
 * One live subscription to $all, shared by every listener, from the first
 * listener to the last. Wake-ups are coalesced; a dropped subscription is
 * retried with backoff, silently: subscribers poll meanwhile, so delivery
 * stays correct and only its latency suffers.
 */
export function liveAppendNotifier (client: KurrentDBClient): AppendNotifier {
  const listeners = new Set<() => void>()
  let live: AllStreamSubscription | undefined
  let retry: NodeJS.Timeout | undefined
  let failures = 0
  let scheduled = false
  let stopped = false

  function notify (): void {
    if (scheduled) return
    scheduled = true
    setImmediate(() => {
      scheduled = false
      for (const listener of [...listeners]) listener()
    })
  }

  function start (): void {
    try {
      const subscription = client.subscribeToAll({ fromPosition: END, filter: excludeSystemEvents() })
      live = subscription
      // Confirmation too: events may have come while the subscription was down.
      const healthy = (): void => { failures = 0; notify() }
      const dropped = (): void => { restart(subscription) }
      subscription.on('confirmation', healthy).on('data', healthy)
      subscription.on('error', dropped).on('end', dropped).on('close', dropped)
    } catch {
      scheduleRetry()
    }
  }

  function restart (subscription: AllStreamSubscription): void {
    if (subscription !== live) return // already replaced or stopped
    live = undefined
    subscription.unsubscribe().catch(() => {})
    scheduleRetry()
  }

  function scheduleRetry (): void {
    const delay = Math.min(RETRY_MIN_MS * 2 ** failures, RETRY_MAX_MS)
    failures++
    retry = setTimeout(() => {
      retry = undefined
      if (listeners.size > 0 && !stopped) start()
    }, delay)
    retry.unref()
  }

  async function stopLive (): Promise<void> {
    clearTimeout(retry)
    retry = undefined
    failures = 0
    const subscription = live
    live = undefined
    await subscription?.unsubscribe().catch(() => {})
  }

  return {
    add (listener) {
      listeners.add(listener)
      if (live === undefined && retry === undefined && !stopped) start()
      return () => {
        listeners.delete(listener)
        if (listeners.size === 0) void stopLive()
      }
    },
    notify,
    async stop () {
      stopped = true
      listeners.clear()
      await stopLive()
    }
  }
}
