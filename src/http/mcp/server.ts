/**
 * The MCP server of one organization: a low-level SDK `Server` (not
 * `McpServer`, whose tools are registered with zod: the registry already
 * publishes JSON Schemas) with two handlers over the runtime's one tool
 * pipeline, so MCP decides nothing a tool's HTTP route would not:
 *
 * - `tools/list`: what `available(orgId, caller)` offers this caller;
 * - `tools/call`: `call(...)`, its outcome as a `CallToolResult` (results.ts).
 *   A call that waits for approval is put to the caller by elicitation when
 *   their client declared it (in a session: the answer must come back to this
 *   node's server), then approved or denied through the pipeline; otherwise,
 *   or unanswered, the result names the HTTP approval route.
 *
 * Who calls is the HTTP request's, not the session's: each request carries
 * its authenticated caller and its request's metadata in `authInfo.extra`.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js'
import {
  CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type ServerNotification, type ServerRequest
} from '@modelcontextprotocol/sdk/types.js'
import type { FastifyBaseLogger } from 'fastify'
import type { ToolCallOutcome } from '../../application/tools/outcome.ts'
import type { ToolPipeline } from '../../application/tools/pipeline.ts'
import type { ToolCaller } from '../../application/tools/tool.ts'
import type { CommandMetadata } from '../../domain/envelope.ts'
import { LedgerlineError } from '../../domain/errors.ts'
import { ToolNotFound } from '../../domain/tools/errors.ts'
import { deniedByCaller, META, pendingResult, resultOf, toolOf } from './results.ts'

/** The `authInfo.extra` key under which each HTTP request hands its caller to the handlers. */
export const CONTEXT = 'ledgerline'

/** How long a call waits for its caller's answer in the client before the result names the HTTP route instead (the call still waits). */
export const ELICITATION_TIMEOUT_MS = 5 * 60_000

/** What the HTTP request that carried a message says about it. */
export interface McpRequestContext {
  readonly caller: ToolCaller
  /** The metadata of a command this request issues (a new command id each time). */
  metadata(): CommandMetadata
  readonly log: FastifyBaseLogger
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>
type Pending = Extract<ToolCallOutcome, { status: 'approval_required' }>

/** What a 500 says instead of its cause, as the HTTP layer's. */
const HIDDEN = 'an unexpected error occurred; the trace id identifies it in the logs'

function contextOf (extra: Extra): McpRequestContext {
  const context = extra.authInfo?.extra?.[CONTEXT] as McpRequestContext | undefined
  if (context === undefined) throw new McpError(ErrorCode.InternalError, 'the request carries no authenticated caller')
  return context
}

export function mcpServer (tools: ToolPipeline, orgId: string): Server {
  const server = new Server({ name: 'ledgerline', title: 'Ledgerline', version: '0.1.0' }, {
    capabilities: { tools: { listChanged: false } },
    instructions: 'Ledgerline\'s governance tools for one organization, as your roles there allow. A destructive call waits for ' +
      'your approval: the client asks you when it can, or the result names the route to approve it.'
  })
  server.setRequestHandler(ListToolsRequestSchema, async (_request, extra) => {
    const { caller, log } = contextOf(extra)
    return guarded(log, async () => ({ tools: (await tools.available(orgId, caller)).map(toolOf) }))
  })
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const context = contextOf(extra)
    const { name, arguments: input = {} } = request.params
    return guarded(context.log, async () => {
      try {
        const outcome = await tools.call({ orgId, tool: name, input, caller: context.caller, metadata: context.metadata() })
        if (outcome.status !== 'approval_required') return resultOf(orgId, outcome)
        const elicits = server.getClientCapabilities()?.elicitation?.form !== undefined && extra.sessionId !== undefined
        return elicits ? await askApproval({ server, tools, orgId, context, extra }, name, outcome, input) : pendingResult(orgId, outcome)
      } catch (error) {
        // MCP: an unknown tool is a protocol error, not a tool's.
        if (error instanceof ToolNotFound) throw new McpError(ErrorCode.InvalidParams, `${error.code}: no tool named ${name.slice(0, 128)}`)
        if (error instanceof LedgerlineError) return errorResult(error)
        throw error
      }
    })
  })
  return server
}

/** Any other failure is logged and answered as an internal error that hides its cause. */
async function guarded<T> (log: FastifyBaseLogger, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (error instanceof McpError) throw error
    log.error({ err: error }, 'an MCP request failed')
    throw new McpError(ErrorCode.InternalError, HIDDEN)
  }
}

function errorResult (error: LedgerlineError): CallToolResult {
  const hidden = error.status >= 500 && error.status !== 503 && error.status !== 504
  const message = hidden ? HIDDEN : error.message
  return { isError: true, content: [{ type: 'text', text: `${error.code}: ${message}` }], _meta: { [META]: { code: error.code } } }
}

interface Asking {
  readonly server: Server
  readonly tools: ToolPipeline
  readonly orgId: string
  readonly context: McpRequestContext
  readonly extra: Extra
}

/**
 * Puts a pending call to its caller in the client (a form with no field: a
 * yes or no). Accept approves it (the pipeline asks `can()` again and runs
 * it), decline denies it; a dismissed, failed or unanswered question leaves
 * it pending for the HTTP route until it expires.
 */
async function askApproval (asking: Asking, tool: string, outcome: Pending, input: unknown): Promise<CallToolResult> {
  const { server, tools, orgId, context, extra } = asking
  const shown = JSON.stringify(input)
  const message = `Run ${tool} with ${shown.length > 500 ? `${shown.slice(0, 500)}…` : shown}? It changes data and needs your approval ` +
    `(call ${outcome.callId}).`
  let answer
  try {
    answer = await server.elicitInput({ mode: 'form', message, requestedSchema: { type: 'object', properties: {} } },
      { relatedRequestId: extra.requestId, timeout: ELICITATION_TIMEOUT_MS, signal: extra.signal })
  } catch (error) {
    context.log.info({ err: error, callId: outcome.callId }, 'asking for a tool call\'s approval in the MCP client failed')
    return pendingResult(orgId, outcome, 'Asking you in the client failed or went unanswered.')
  }
  const pending = { orgId, callId: outcome.callId, caller: context.caller, metadata: context.metadata() }
  if (answer.action === 'accept') return resultOf(orgId, await tools.approve(pending))
  if (answer.action === 'decline') return deniedByCaller(outcome.callId, (await tools.deny(pending)).position)
  return pendingResult(orgId, outcome, 'You dismissed the question; the call still waits.')
}
