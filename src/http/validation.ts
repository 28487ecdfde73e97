/**
 * The request validator: zod through fastify-type-provider-zod, except that
 * a request without a body is checked as `undefined`. Fastify hands a
 * missing body to the validator as `null`, which an optional body schema
 * (`z.object(…).optional()`) refuses: a body-less POST to a route whose body
 * is optional would be a 400.
 */
import type { FastifySchemaCompiler } from 'fastify'
import { validatorCompiler } from 'fastify-type-provider-zod'
import type { z } from 'zod'

export const requestValidatorCompiler: FastifySchemaCompiler<z.ZodType> = (route) => {
  const validate = validatorCompiler(route)
  if (route.httpPart !== 'body') return validate
  return (data: unknown) => validate(data === null ? undefined : data)
}
