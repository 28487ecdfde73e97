/**
 * The tool registry over plain HTTP: list the tools a member may use, call
 * one, approve or deny a pending call, read calls. Every call goes through
 * the runtime's one pipeline (src/application/tools/pipeline.ts); nothing
 * here decides anything about a tool.
 *
 * Every route declares `ai:use` ("use the assistant and its tools, within
 * one's own permissions"): the right to use AI tools at all, which the
 * preHandler checks like any route's action. Each tool's own permission is
 * the pipeline's to check, on the call's input, so a call needs both: a
 * member with `ai:use` alone is offered no tool. `ai:use` is not blocked
 * while impersonating; the pipeline refuses the tools whose actions are.
 *
 * Reading calls: a caller reads their own; a holder of `audit:read` reads
 * every member's, as the audit log, which records the same calls, shows them.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { listToolCalls, showToolCall } from '../../application/tools/calls.ts'
import type { ToolCallOutcome } from '../../application/tools/outcome.ts'
import type { PendingCallRequest } from '../../application/tools/pipeline.ts'
import { LedgerlineError } from '../../domain/errors.ts'
import { Forbidden } from '../../domain/identity/errors.ts'
import { TOOL_NAME } from '../../domain/tools/contract.ts'
import { ToolCallNotFound } from '../../domain/tools/errors.ts'
import { TOOL_CALL_STATUSES } from '../../projections/tools/queries.ts'
import type { Runtime } from '../../runtime.ts'
import { holdsAlso } from '../plugins/authorization.ts'
import { commandMetadata, principalOf } from '../plugins/auth.ts'
import { cursorParam, pageLimit } from '../query.ts'
import { BEARER, Id, Position, problems } from '../schemas.ts'
import { toolCallerOf } from '../tenancy.ts'

/** What every route of this file authorizes: using AI tools at all. */
const AI_USE = 'ai:use'
/** Reading other members' calls: what reading the audit log takes. */
const READ_EVERYONE = 'audit:read'

const ToolName = z.string().regex(TOOL_NAME, 'a tool name: 1 to 128 letters, digits, _, . or -')
const OrgParams = z.object({ orgId: Id })
const ToolParams = z.object({ orgId: Id, name: ToolName })
const CallParams = z.object({ orgId: Id, callId: Id })
const JsonObject = z.record(z.string(), z.unknown())

const ToolView = z.object({
  name: z.string(), title: z.string(), description: z.string(),
  inputSchema: JsonObject.describe('JSON Schema 2020-12 of the input, as a client sends it'),
  outputSchema: JsonObject.describe('JSON Schema 2020-12 of the output'),
  annotations: z.object({
    readOnlyHint: z.boolean(), destructiveHint: z.boolean(), idempotentHint: z.boolean(), openWorldHint: z.boolean()
  }),
  permission: z.string().describe('the catalogue action a call needs, judged on its input'),
  approval: z.enum(['never', 'always', 'depends_on_input']).describe('whether a call waits for its caller\'s approval'),
  timeoutMs: z.number().int()
})

const Succeeded = z.object({ callId: Id, status: z.literal('succeeded'), output: JsonObject, position: Position })
const AwaitingApproval = z.object({
  callId: Id, status: z.literal('approval_required'),
  expiresAt: z.string().describe('approve (POST <location>/approve) or deny before then, as the same caller'),
  location: z.string().describe('the call, as in the Location header'),
  position: Position
})
const Denied = z.object({ callId: Id, status: z.literal('denied'), position: Position })

const ToolCallView = z.object({
  callId: Id, orgId: Id, tool: z.string(), callerId: z.string(), impersonatorId: z.string().nullable(), action: z.string(),
  input: z.unknown().describe('as recorded: secrets redacted'),
  approval: z.enum(['required', 'not_required']), status: z.enum(TOOL_CALL_STATUSES), attempts: z.number().int(),
  approvalExpiresAt: z.string().nullable(), decidedBy: z.string().nullable(), decidedAt: z.string().nullable(),
  denialReason: z.string().nullable(), retryAt: z.string().nullable(), errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(), outputBytes: z.number().int().nullable(), durationMs: z.number().nullable(),
  requestedAt: z.string(), startedAt: z.string().nullable(), finishedAt: z.string().nullable()
})

/**
 * A refused or failed call as problem+json: the pipeline's error (its code
 * and status), with the call's id and position, so the client can read what
 * was recorded.
 */
class ToolCallProblem extends LedgerlineError {
  readonly code: string
  readonly status: number
  constructor (error: LedgerlineError, callId: string, position: string | null) {
    super(error.message, { ...error.details, callId, position })
    this.code = error.code
    this.status = error.status
  }
}


/** The path's call, as the caller approves or denies it. */
function pendingCall (request: FastifyRequest): PendingCallRequest {
  const { orgId, callId } = request.params as z.infer<typeof CallParams>
  return { orgId, callId, caller: toolCallerOf(request), metadata: commandMetadata(request, orgId) }
}

const callLocation = (orgId: string, callId: string): string => `/v1/orgs/${orgId}/tool-calls/${callId}`

/** 200 with the output, 202 with the call to approve, or the outcome's error as problem+json. */
function answer (reply: FastifyReply, orgId: string, outcome: ToolCallOutcome): FastifyReply {
  switch (outcome.status) {
    case 'succeeded': return reply.code(200).send(outcome)
    case 'approval_required': {
      const location = callLocation(orgId, outcome.callId)
      return reply.code(202).header('location', location).send({ ...outcome, location })
    }
    default: throw new ToolCallProblem(outcome.error, outcome.callId, outcome.position)
  }
}

export async function toolRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get('/v1/orgs/:orgId/tools', {
    schema: {
      tags: ['tools'], summary: 'The AI tools the caller may use here, with their schemas and annotations', security: BEARER,
      description: 'A tool is listed when the caller\'s roles allow its permission, unconditionally or under a condition (judged on ' +
        'the call\'s input); never one whose action is blocked while impersonating.',
      'x-permission': AI_USE, params: OrgParams,
      response: { 200: z.object({ items: z.array(ToolView) }), ...problems }
    }
  }, async (request) => {
    return { items: await runtime.tools.available(request.params.orgId, toolCallerOf(request)) }
  })

  api.post('/v1/orgs/:orgId/tools/:name/calls', {
    schema: {
      tags: ['tools'], security: BEARER, 'x-permission': AI_USE, params: ToolParams,
      summary: 'Calls a tool: 200 with its output, or 202 when the call waits for its caller\'s approval',
      description: 'The tool\'s own permission is checked on the input (403 tool.forbidden); an invalid input is 400 ' +
        'tool.invalid_input; a timeout 504 tool.timeout. Every call, refused or not, is recorded, and its problem names its callId.',
      body: z.object({ input: JsonObject.default({}).describe('the tool\'s input, as its inputSchema says ({} when omitted)') }).strict(),
      response: { 200: Succeeded, 202: AwaitingApproval, ...problems }
    }
  }, async (request, reply) => {
    const { orgId, name } = request.params
    const outcome = await runtime.tools.call({
      orgId, tool: name, input: request.body.input, caller: toolCallerOf(request), metadata: commandMetadata(request, orgId)
    })
    return answer(reply, orgId, outcome)
  })

  api.post('/v1/orgs/:orgId/tool-calls/:callId/approve', {
    schema: {
      tags: ['tools'], security: BEARER, 'x-permission': AI_USE, params: CallParams,
      summary: 'Approves a pending call and runs it (its caller only, as they called); 200 with the output',
      response: { 200: Succeeded, ...problems }
    }
  }, async (request, reply) => answer(reply, request.params.orgId, await runtime.tools.approve(pendingCall(request))))

  api.post('/v1/orgs/:orgId/tool-calls/:callId/deny', {
    schema: {
      tags: ['tools'], security: BEARER, 'x-permission': AI_USE, params: CallParams,
      summary: 'Turns a pending call down (its caller only, as they called); nothing runs',
      response: { 200: Denied, ...problems }
    }
  }, async (request) => runtime.tools.deny(pendingCall(request)))

  api.get('/v1/orgs/:orgId/tool-calls', {
    schema: {
      tags: ['tools'], security: BEARER, 'x-permission': AI_USE, params: OrgParams,
      summary: 'Tool calls, newest first, a page at a time: the caller\'s own, or every member\'s for readers of the audit log',
      description: 'Without audit:read, the caller\'s own calls only, and callerId may name only the caller (else 403 auth.forbidden).',
      querystring: z.object({
        limit: pageLimit(200, 50),
        cursor: cursorParam.optional(),
        tool: ToolName.optional().describe('only this tool\'s calls'),
        callerId: Id.optional().describe('only this member\'s calls')
      }).strict(),
      response: { 200: z.object({ items: z.array(ToolCallView), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    const { limit, cursor, tool, callerId } = request.query
    const own = principalOf(request).userId
    const everyone = await holdsAlso(runtime, request, orgId, READ_EVERYONE)
    if (!everyone && callerId !== undefined && callerId !== own) {
      throw new Forbidden(`reading other members' tool calls takes ${READ_EVERYONE}`, { action: READ_EVERYONE })
    }
    const only = everyone ? callerId : own
    return listToolCalls(runtime.sql, orgId, {
      limit, ...(cursor === undefined ? {} : { cursor }), ...(tool === undefined ? {} : { tool }),
      ...(only === undefined ? {} : { callerId: only })
    })
  })

  api.get('/v1/orgs/:orgId/tool-calls/:callId', {
    schema: {
      tags: ['tools'], security: BEARER, 'x-permission': AI_USE, params: CallParams,
      summary: 'One tool call: its input as recorded, status, attempts, approval and outcome',
      description: 'Another member\'s call is 404 tool.call_not_found unless the caller holds audit:read.',
      response: { 200: ToolCallView, ...problems }
    }
  }, async (request) => {
    const { orgId, callId } = request.params
    const call = await showToolCall(runtime.sql, orgId, callId)
    const mine = call.callerId === principalOf(request).userId
    if (!mine && !await holdsAlso(runtime, request, orgId, READ_EVERYONE)) throw new ToolCallNotFound()
    return call
  })
}
