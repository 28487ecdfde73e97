/**
 * Response serialization from the routes' zod schemas, compiled once per
 * route and status with fast-json-stringify (what Fastify uses for JSON
 * schemas) instead of zod's parse-then-stringify on every response. Only the
 * properties a schema names are written, so a handler cannot leak a field by
 * returning more than it declares.
 */
import fastJson from 'fast-json-stringify'
import { z } from 'zod'

type Serializer = (data: unknown) => string

export const serializerCompiler: (route: { schema: unknown }) => Serializer = ({ schema }) => {
  const jsonSchema = z.toJSONSchema(schema as z.ZodType, { io: 'output', target: 'draft-7', unrepresentable: 'any' })
  return fastJson(simplifyNullable(jsonSchema) as Parameters<typeof fastJson>[0]) as Serializer
}

type JsonSchema = Record<string, unknown>

/**
 * `anyOf: [{type: 'string'}, {type: 'null'}]` (how zod writes `.nullable()`)
 * becomes `type: ['string', 'null']`: fast-json-stringify picks an anyOf
 * branch by validating the value, a type list it checks directly.
 */
function simplifyNullable (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(simplifyNullable)
  if (schema === null || typeof schema !== 'object') return schema
  const out: JsonSchema = {}
  for (const [key, value] of Object.entries(schema)) out[key] = simplifyNullable(value)
  const anyOf = out.anyOf as JsonSchema[] | undefined
  const typeOnly = (branch: JsonSchema): boolean => Object.keys(branch).length === 1 && typeof branch.type === 'string'
  if (Array.isArray(anyOf) && anyOf.length === 2 && anyOf.every(typeOnly)) {
    const types = anyOf.map((branch) => branch.type as string)
    if (types.includes('null')) {
      delete out.anyOf
      out.type = types
    }
  }
  return out
}

