/**
 * The writes of one call: each step is a command on the call's stream
 * (`toolcall-<callId>`) through the call's decider, with the metadata of the
 * request that drives it (who, trace, address; the impersonator when there
 * is one) and a command id derived from that request, the call and the step.
 */
import type { Logger } from 'pino'
import { uuidV5, type CommandMetadata } from '../../domain/envelope.ts'
import { toolCallDecider, toolCallStreamId, type ToolCallCommand, type ToolCallState } from '../../domain/tools/call.ts'
import { formatPosition } from '../../eventstore/position.ts'
import type { LogPosition } from '../../eventstore/types.ts'
import { execute } from '../commands.ts'
import type { ToolCallObserver } from './metrics.ts'
import type { ToolRegistry } from './registry.ts'
import type { ToolServices } from './tool.ts'

export interface PipelineDeps {
  readonly services: ToolServices
  readonly registry: ToolRegistry
  readonly observer: ToolCallObserver
  readonly logger: Logger
  readonly now: () => Date
  /** In [0, 1): the backoff's jitter. */
  readonly random: () => number
  readonly sleep: (ms: number) => Promise<void>
}

export class CallSteps {
  #position: LogPosition | undefined

  constructor (
    private readonly deps: PipelineDeps, readonly callId: string, readonly orgId: string, private readonly metadata: CommandMetadata
  ) {}

  async record (command: ToolCallCommand, step: string): Promise<ToolCallState> {
    const metadata: CommandMetadata = {
      ...this.metadata,
      orgId: this.orgId,
      now: this.deps.now(),
      commandId: uuidV5(`${this.metadata.commandId}/toolcall/${this.callId}/${step}`),
      correlationId: this.callId
    }
    const result = await execute(this.deps.services, toolCallDecider, toolCallStreamId(this.callId), command, metadata)
    if (result.position !== undefined) this.#position = result.position
    return result.state
  }

  /**
   * Metadata for the body's commands: the same for every attempt of the call (not of the request), so a retried
   * attempt repeats the commands an earlier one may have written, and the store writes them once.
   */
  bodyCommand (step: string): CommandMetadata {
    return {
      ...this.metadata,
      orgId: this.orgId,
      now: this.deps.now(),
      commandId: uuidV5(`toolcall/${this.callId}/body/${step}`),
      causationId: this.callId,
      correlationId: this.callId
    }
  }

  /** Where the call's last event landed. */
  written (): string | null {
    return this.#position === undefined ? null : formatPosition(this.#position)
  }
}
