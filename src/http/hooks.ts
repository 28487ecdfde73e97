import type { RouteOptions } from 'fastify'

type HookName = 'preHandler' | 'onSend'

/** Adds a hook to one route (from an onRoute hook), after the ones it has. */
export function appendRouteHook (route: RouteOptions, name: HookName, hook: unknown): void {
  const existing = route[name] as unknown
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [existing]
  ;(route as unknown as Record<HookName, unknown[]>)[name] = [...list, hook]
}
