/**
 * The dashboard at /app: the files `vite build` wrote to web/dist, served by
 * this server (@fastify/static), nothing from a CDN. A client route (any
 * /app path without a file extension) answers index.html, so a reload or a
 * link lands on the right page. Hashed files under /app/assets/ are cached
 * for a year (a new build has new names); index.html is revalidated each
 * time. Every /app response carries a strict Content-Security-Policy: scripts,
 * styles and calls from this origin only, no inline script, no eval.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { sendProblem, titleFor } from './errors.ts'

export const DASHBOARD_PREFIX = '/app'
export const dashboardDist = fileURLToPath(new URL('../../../web/dist/', import.meta.url))

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "font-src 'self'", "connect-src 'self'",
  "manifest-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"
].join('; ')

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'x-frame-options': 'DENY'
}
const IMMUTABLE = 'public, max-age=31536000, immutable'
const REVALIDATE = 'no-cache'
const CLIENT_ROUTE = /^\/app(\/[^.]*)?$/

function cacheHeaders (reply: FastifyReply, path: string): void {
  reply.header('cache-control', path.includes('/assets/') ? IMMUTABLE : REVALIDATE)
}

export async function dashboardStatic (app: FastifyInstance, options: { root?: string } = {}): Promise<void> {
  const root = options.root ?? dashboardDist
  app.addHook('onSend', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS)
  })
  if (!existsSync(`${root}/index.html`)) {
    // Started without a build (npm start builds it first): say how to get one rather than a bare 404.
    const notBuilt = async (request: Parameters<typeof sendProblem>[0], reply: Parameters<typeof sendProblem>[1]) =>
      sendProblem(request, reply, { status: 503, title: titleFor(503), code: 'dashboard.not_built',
        detail: 'the dashboard is not built: run npm run build:web (npm start builds it)' })
    app.get('/', { schema: { hide: true } }, notBuilt)
    app.get('/*', { schema: { hide: true } }, notBuilt)
    return
  }
  await app.register(fastifyStatic, {
    root, prefix: '/', index: false, cacheControl: false, etag: true, lastModified: true, setHeaders: cacheHeaders, dotfiles: 'ignore'
  })
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.header('cache-control', REVALIDATE).sendFile('index.html'))
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!
    if ((request.method === 'GET' || request.method === 'HEAD') && CLIENT_ROUTE.test(path) && !path.startsWith('/app/assets/')) {
      return reply.header('cache-control', REVALIDATE).sendFile('index.html')
    }
    return sendProblem(request, reply,
      { status: 404, title: titleFor(404), code: 'http.not_found', detail: `no route ${request.method} ${path}` })
  })
}
