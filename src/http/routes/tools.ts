/**
 * The tool registry over plain HTTP: list the tools a member may use, call
 * one, approve or deny a pending call, read calls. Every call goes through
 * the runtime's one pipeline (src/application/tools/pipeline.ts).
 */
import type { FastifyInstance } from 'fastify'
import type { Runtime } from '../../runtime.ts'

export async function toolRoutes (_app: FastifyInstance, _options: { runtime: Runtime }): Promise<void> {
  // Routes land here (issue: tool registry, HTTP).
}
