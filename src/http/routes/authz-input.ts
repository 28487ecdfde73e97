/**
 * The body of `POST /v1/orgs/:orgId/authz/check`: the zod schema (the
 * contract, the OpenAPI document and every error message), and a fast
 * pre-check for the hot path. A host application sends this request on
 * every business operation; zod takes about 2 µs per check to validate it,
 * more than deciding it. The pre-check is sound, not complete: when it
 * accepts a body, the schema accepts the same body unchanged (a property
 * test in test/authz-input.test.ts holds it to that); when it does not, zod
 * decides and says what is wrong.
 */
import type { FastifySchema, FastifySchemaCompiler } from 'fastify'
import { validatorCompiler } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { Id } from '../schemas.ts'

const MAX_STRING = 1000
const MAX_LIST = 100
const MAX_ATTRIBUTES = 50
const MAX_CHECKS = 100

const scalar = (value: unknown): boolean =>
  value === null || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)) ||
  (typeof value === 'string' && value.length <= MAX_STRING)
const attribute = (value: unknown): boolean => scalar(value) || (Array.isArray(value) && value.length <= MAX_LIST && value.every(scalar))

const SCALARS = [{ type: 'string', maxLength: MAX_STRING }, { type: 'number' }, { type: 'boolean' }, { type: 'null' }]
const Attribute = z.unknown()
  .refine(attribute, `a string (at most ${MAX_STRING} characters), a number, a boolean, null, or a list of at most ${MAX_LIST} of them`)
  .meta({ anyOf: [...SCALARS, { type: 'array', maxItems: MAX_LIST, items: { anyOf: SCALARS } }] })
const ACTION = /^[a-z][a-z0-9_]{0,63}:[a-z*][a-z0-9_]{0,63}$/
const IsoTime = z.iso.datetime({ offset: true })

export const Check = z.object({
  userId: Id.optional().describe('whose permission (default: the caller)'),
  action: z.string().regex(ACTION, '<resource>:<verb>'),
  resource: z.object({ type: z.string().min(1).max(64), id: z.string().max(200).optional() })
    .catchall(Attribute).refine((resource) => Object.keys(resource).length <= MAX_ATTRIBUTES, `at most ${MAX_ATTRIBUTES} attributes`),
  context: z.object({
    ip: z.string().max(64).optional(),
    time: z.union([IsoTime, z.number().int()]).optional(),
    mfa: z.boolean().optional(),
    impersonating: z.boolean().optional()
  }).strict().optional()
}).strict()
export type CheckInput = z.infer<typeof Check>

export const CheckBody = z.object({ checks: z.array(Check).min(1).max(MAX_CHECKS) }).strict()

// ── the pre-check ──────────────────────────────────────────────────────────

const ID = /^[A-Za-z0-9_-]{1,64}$/

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype
}

function plainResource (value: unknown): boolean {
  if (!isRecord(value)) return false
  let count = 0
  for (const key in value) {
    count++
    const attributeValue = value[key]
    if (key === 'type') {
      if (typeof attributeValue !== 'string' || attributeValue.length === 0 || attributeValue.length > 64) return false
    } else if (key === 'id') {
      if (typeof attributeValue !== 'string' || attributeValue.length > 200) return false
    } else if (!attribute(attributeValue)) return false
  }
  return count <= MAX_ATTRIBUTES && typeof value.type === 'string'
}

function plainContext (value: unknown): boolean {
  if (!isRecord(value)) return false
  for (const key in value) {
    const v = value[key]
    switch (key) {
      case 'ip': if (typeof v !== 'string' || v.length > 64) return false; break
      case 'time': if (!(Number.isSafeInteger(v) || (typeof v === 'string' && IsoTime.safeParse(v).success))) return false; break
      case 'mfa':
      case 'impersonating': if (typeof v !== 'boolean') return false; break
      default: return false
    }
  }
  return true
}

function plainCheck (value: unknown): boolean {
  if (!isRecord(value)) return false
  for (const key in value) {
    const v = value[key]
    switch (key) {
      case 'userId': if (typeof v !== 'string' || !ID.test(v)) return false; break
      case 'action': if (typeof v !== 'string' || !ACTION.test(v)) return false; break
      case 'resource': if (!plainResource(v)) return false; break
      case 'context': if (!plainContext(v)) return false; break
      default: return false
    }
  }
  return typeof value.action === 'string' && value.resource !== undefined
}

/** True only for a body the schema accepts as it is. */
export function isPlainCheckBody (body: unknown): body is z.infer<typeof CheckBody> {
  if (!isRecord(body)) return false
  for (const key in body) if (key !== 'checks') return false
  const checks = body.checks
  return Array.isArray(checks) && checks.length >= 1 && checks.length <= MAX_CHECKS && checks.every(plainCheck)
}

/** The route's validator: the pre-check for the body, zod for what it does not accept and for every other part. */
export const checkValidatorCompiler: FastifySchemaCompiler<FastifySchema> = (route) => {
  const zod = validatorCompiler(route as never) as (data: unknown) => { value?: unknown, error?: Error }
  if (route.httpPart !== 'body') return zod
  return (data: unknown) => (isPlainCheckBody(data) ? { value: data } : zod(data))
}
