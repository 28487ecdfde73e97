/**
 * The signed daily digests of an organization's audit log, newest day first,
 * with the public key that verifies them (audit:read). A customer keeps
 * them; later, an export whose chain reproduces a digest's last hash at its
 * last seq is the log that was signed (src/application/audit/digests.ts).
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { digestText, listDigests } from '../../application/audit/digests.ts'
import { signingKeyOf } from '../../application/audit/signing-key.ts'
import type { Runtime } from '../../runtime.ts'
import { pageLimit, pgTimestamp } from '../query.ts'
import { BEARER, Id, problems } from '../schemas.ts'

const DigestView = z.object({
  orgId: z.string().nullable(),
  day: z.string().describe('UTC day, YYYY-MM-DD'),
  firstSeq: z.number().int(),
  lastSeq: z.number().int(),
  lastHash: z.string().describe('the chain\'s hash at lastSeq: it commits to every row up to it'),
  rows: z.number().int().describe('rows dated that day, through lastSeq'),
  signedAt: z.string(),
  keyId: z.string(),
  signature: z.string().describe('base64 Ed25519 signature of signedText'),
  signedText: z.string()
    .describe('the canonical JSON that was signed: {day, firstSeq, lastHash, lastSeq, orgId, rows, signedAt}, keys sorted, no spaces')
})

export async function auditDigestRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get('/v1/orgs/:orgId/audit-digests', {
    schema: {
      tags: ['audit'],
      summary: 'Signed daily digests of the audit log, newest day first, and the Ed25519 public key that verifies them (audit:read)',
      security: BEARER, 'x-permission': 'audit:read', params: z.object({ orgId: Id }),
      querystring: z.object({
        limit: pageLimit(366, 30),
        before: pgTimestamp.transform((instant) => instant.slice(0, 10)).optional()
          .describe('only days before this one (a date, or the UTC day of an ISO 8601 time): the nextBefore of the previous page')
      }).strict(),
      response: {
        200: z.object({
          keyId: z.string().describe('first 16 hex digits of the SHA-256 of the public key (SPKI DER)'),
          publicKey: z.string().describe('SPKI PEM'),
          items: z.array(DigestView),
          nextBefore: z.string().nullable()
        }),
        ...problems
      }
    }
  }, async (request) => {
    const { orgId } = request.params
    const { limit, before } = request.query
    const key = signingKeyOf(runtime.config, runtime.logger)
    const page = await listDigests(runtime.sql, orgId, { limit: limit + 1, ...(before === undefined ? {} : { before }) })
    const items = page.slice(0, limit).map((digest) => ({ ...digest, signedText: digestText(digest) }))
    return { keyId: key.keyId, publicKey: key.publicKeyPem, items, nextBefore: page.length > limit ? items.at(-1)!.day : null }
  })
}
