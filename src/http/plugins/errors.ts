/**
 * One error model (RFC 9457 problem+json) for every route: domain errors map
 * by their `code`; validation becomes 400; anything unexpected is a 500 whose
 * body hides the cause (the log has it, with the trace id).
 */
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { LedgerlineError } from '../../domain/errors.ts'

/** The fields a handler supplies; `type`, `instance` and `traceId` are added when sent. Extra members are RFC 9457 extensions. */
export type ProblemInput = {
  status: number
  title: string
  code: string
  detail?: string
} & Record<string, unknown>

export function sendProblem (request: FastifyRequest, reply: FastifyReply, problem: ProblemInput): FastifyReply {
  return reply
    .code(problem.status)
    .type('application/problem+json')
    .send({ ...problem, type: 'about:blank', instance: request.url.split('?')[0], traceId: request.id })
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 408: 'Request Timeout', 409: 'Conflict', 413: 'Content Too Large', 414: 'URI Too Long',
  415: 'Unsupported Media Type', 422: 'Unprocessable Content', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 503: 'Service Unavailable',
  504: 'Gateway Timeout'
}

export function titleFor (status: number): string {
  return TITLES[status] ?? 'Error'
}

/** Fastify's own error codes as ours: FST_ERR_CTP_INVALID_MEDIA_TYPE → http.ctp_invalid_media_type. */
function problemCode (error: FastifyError): string {
  return `http.${(error.code ?? 'bad_request').replace(/^FST_ERR_/, '').toLowerCase()}`
}

/** What a 500 says instead of its cause; the log has the cause, under the same trace id. */
const HIDDEN_DETAIL = 'an unexpected error occurred; the trace id identifies it in the logs'

/**
 * A read model is read before its first build has made its tables: on a fresh database in the first moments after
 * start, or for a projection new in this release while it builds from the log. A wait, not a failure.
 */
const NOT_BUILT: ProblemInput = {
  status: 503, title: 'Service Unavailable', code: 'projection.not_built',
  detail: 'a read model this request needs is being built for the first time; retry shortly', retryAfterSeconds: 1
}

function toProblem (error: FastifyError | LedgerlineError | Error): ProblemInput {
  if (error instanceof LedgerlineError) {
    // Details first: a detail may never overwrite a member RFC 9457 defines. A 500 shows none of them; 503/504 say what to retry.
    if (error.status === 500) return { status: 500, title: titleFor(500), code: error.code, detail: HIDDEN_DETAIL }
    return { ...error.details, status: error.status, title: titleFor(error.status), code: error.code, detail: error.message }
  }
  const fastifyError = error as FastifyError
  if (fastifyError.validation !== undefined) {
    return {
      status: 400,
      title: titleFor(400),
      code: 'http.validation',
      detail: 'the request does not match the schema',
      // `in` says which part of the request: querystring, params, body or headers.
      errors: fastifyError.validation.slice(0, 20)
        .map((issue) => ({ in: fastifyError.validationContext, path: issue.instancePath, message: issue.message }))
    }
  }
  const status = fastifyError.statusCode
  if (status !== undefined && status >= 400 && status < 500) {
    // Fastify's own client errors: bad JSON, body too large, wrong content type…
    return { status, title: titleFor(status), code: problemCode(fastifyError), detail: fastifyError.message }
  }
  // SQLSTATE 42P01, undefined table (what the SQL port's isUndefinedTable tests, which this layer does not import).
  if ((error as { code?: unknown }).code === '42P01') return NOT_BUILT
  return { status: 500, title: titleFor(500), code: 'internal', detail: HIDDEN_DETAIL }
}

export const errorsPlugin = fp(async (app: FastifyInstance) => {
  // A POST or DELETE without a body may still say it is JSON: no bytes is no body (a route that needs one says so), not invalid JSON.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0) done(null, undefined)
    else parseJson(request, body as string, done)
  })
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const problem = toProblem(error)
    // A refusal that says when to come back (a quota, a limit) says it in the header clients and proxies read too.
    const retryAfter = problem.retryAfterSeconds
    if ((problem.status === 429 || problem.status === 503) && Number.isSafeInteger(retryAfter) && (retryAfter as number) > 0) {
      reply.header('retry-after', String(retryAfter))
    }
    // What a client causes (a 4xx, a wait it asked for) is no server error: no client can fill the error log.
    if (problem.status < 500) request.log.info({ code: problem.code }, 'request rejected')
    else if (problem === NOT_BUILT) request.log.warn({ err: error, code: problem.code }, 'read model not built yet')
    else if ((error as { clientCaused?: unknown }).clientCaused === true) {
      request.log.warn({ code: problem.code }, 'request failed on what the client asked for')
    }
    else request.log.error({ err: error }, 'request failed')
    return sendProblem(request, reply, problem)
  })
  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, {
    status: 404, title: titleFor(404), code: 'http.not_found', detail: `no route ${request.method} ${request.url.split('?')[0]}`
  }))
}, { name: 'errors' })

/** Fastify's router errors (malformed percent-encoding, an over-long path parameter) as problems too. */
export function frameworkErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400
  void sendProblem(request, reply, { status, title: titleFor(status), code: problemCode(error), detail: error.message })
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (a header
 * without a colon, a short body, raw bytes in the path) get a problem too,
 * written on the socket, and the connection is closed.
 */
export function clientErrorHandler (error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) return
  const [status, code] = error.code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'http.headers_too_large']
    : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'http.request_timeout'] : [400, 'http.malformed_request']
  const detail = 'the request could not be parsed as HTTP/1.1'
  const body = JSON.stringify({ type: 'about:blank', title: titleFor(status), status, code, detail })
  const headers = `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close`
  socket.end(`HTTP/1.1 ${status} ${titleFor(status)}\r\n${headers}\r\n\r\n${body}`)
}
