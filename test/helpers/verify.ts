/**
 * Audit verification over HTTP as a client does it: POST
 * …/audit-events/verify (202 and a Location), then GET the Location until
 * the verification is over (succeeded, dead or cancelled).
 */
import type { LightMyRequestResponse } from 'fastify'
import type { TestApp } from './app.ts'

export interface Verification {
  jobId: string
  orgId: string
  state: 'waiting' | 'running' | 'succeeded' | 'dead' | 'cancelled'
  attempts: number
  scheduledAt: string
  finishedAt: string | null
  error: { code: string, message: string } | null
  report: Record<string, unknown> & { ok: boolean, mismatch: Record<string, unknown> | null, rowsChecked: number } | null
}

const OVER = new Set(['succeeded', 'dead', 'cancelled'])

/** POSTs a verification of `orgId`; throws unless the answer is 202 with a Location. */
export async function requestVerification (api: TestApp, orgId: string, token?: string): Promise<{ jobId: string, location: string }> {
  const response = await api.call('POST', `/v1/orgs/${orgId}/audit-events/verify`, token === undefined ? {} : { token })
  if (response.statusCode !== 202) throw new Error(`POST verify: ${response.statusCode} ${response.body}`)
  const location = String(response.headers.location)
  return { jobId: (response.json() as { jobId: string }).jobId, location }
}

/** GETs `location` until the verification is over (or `timeoutMs` passed: then throws), answering its last body. */
export async function untilVerified (api: TestApp, location: string, token?: string, timeoutMs = 30_000): Promise<Verification> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const response: LightMyRequestResponse = await api.call('GET', location, token === undefined ? {} : { token })
    if (response.statusCode !== 200) throw new Error(`GET ${location}: ${response.statusCode} ${response.body}`)
    const body = response.json() as Verification
    if (OVER.has(body.state)) return body
    if (Date.now() > deadline) throw new Error(`${location} still ${body.state} after ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** A verification of `orgId` requested and polled to its end: its report, or throws when it did not succeed. */
export async function verifyOverHttp (api: TestApp, orgId: string, token?: string): Promise<NonNullable<Verification['report']>> {
  const { location } = await requestVerification(api, orgId, token)
  const done = await untilVerified(api, location, token)
  if (done.state !== 'succeeded' || done.report === null) throw new Error(`the verification ended ${done.state}: ${JSON.stringify(done)}`)
  return done.report
}
