/**
 * What routes an app serves, two ways, so the walks over "every route" can
 * check they miss none: the router's own listing, and the OpenAPI document.
 */
import type { FastifyInstance } from 'fastify'

export interface RouteKey { method: string, url: string }

export const routeKey = (route: RouteKey): string => `${route.method} ${route.url}`

/** Every method and URL the router knows, parsed from printRoutes (Fastify has no structured listing after the fact). */
export function routerRoutes (app: FastifyInstance): RouteKey[] {
  const found: RouteKey[] = []
  const stack: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:[│ ] {3})*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (match === null) continue
    const depth = match[1]!.length / 4
    stack.length = depth
    const url = (stack[depth - 1] ?? '') + match[2]!
    stack[depth] = url
    for (const method of match[3]?.split(', ') ?? []) found.push({ method, url })
  }
  return found
}

/** Every operation of GET /openapi.json, with Fastify's `:param` paths, plus the HEAD twin Fastify adds to each GET. */
export async function documentedRoutes<Operation> (app: FastifyInstance): Promise<Array<RouteKey & { operation: Operation }>> {
  const document = (await app.inject('/openapi.json')).json() as { paths: Record<string, Record<string, Operation>> }
  const routes: Array<RouteKey & { operation: Operation }> = []
  for (const [path, operations] of Object.entries(document.paths)) {
    const url = path.replace(/\{(\w+)\}/g, ':$1')
    for (const [method, operation] of Object.entries(operations)) {
      routes.push({ method: method.toUpperCase(), url, operation })
      if (method.toUpperCase() === 'GET') routes.push({ method: 'HEAD', url, operation })
    }
  }
  return routes
}
