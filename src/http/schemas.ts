/**
 * Schemas shared by the routes: identifiers, positions, the problem+json
 * body, and the standard error responses every route documents.
 */
import { z } from 'zod'
import { BUILT_IN_ROLES, PLANS } from '../domain/identity/events.ts'

export { Id } from '../domain/values.ts'
export const Email = z.email().max(254)
export const DisplayName = z.string().trim().min(1).max(200)
export const Password = z.string().min(10, 'at least 10 characters').max(256)
export const Role = z.enum(BUILT_IN_ROLES)
export const Plan = z.enum(PLANS)
export const Roles = z.array(Role).min(1).max(BUILT_IN_ROLES.length)

/** Where a command's last event landed, `major.minor`; null when it changed nothing. Send it back as X-Consistent-With. */
export const Position = z.string().nullable()
  .describe('log position of the command\'s last event (null when nothing changed); send it as X-Consistent-With to read your write')
export const Written = z.object({ position: Position })

export const Problem = z.looseObject({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  code: z.string().describe('stable machine-readable error code'),
  detail: z.string().optional(),
  instance: z.string().optional(),
  traceId: z.string().optional()
}).describe('RFC 9457 problem details')

/** The error responses every route may give, for the OpenAPI document. */
export const problems = { '4xx': Problem, '5xx': Problem } as const

export const BEARER = [{ bearerAuth: [] }]
