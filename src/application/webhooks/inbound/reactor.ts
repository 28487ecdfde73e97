/**
 * The safety net under the receiving route: for every `webhook.received` in
 * the log, its processing job is scheduled. The route schedules it right
 * after the append; a node that died in between left a stored message with
 * no job, which this reactor schedules when it reaches the event. The job id
 * derives from the message's stream, so the route's schedule and this one
 * are the same job, scheduled once.
 */
import { uuidV5 } from '../../../domain/envelope.ts'
import type { RecordedEvent } from '../../../eventstore/types.ts'
import type { Reactor, ReactorContext } from '../../reactors/reactor.ts'
import { PROCESS_JOB_TYPE, processJobId, type Scheduler } from './receive.ts'

export class InboundProcessingScheduler implements Reactor {
  readonly name = 'webhooks_inbound_processing'
  readonly eventTypes = ['webhook.received']
  readonly actor = 'webhooks-in'

  /** `jobs` is asked for when a batch comes: the runtime makes its jobs engine after its reactors. */
  constructor (private readonly jobs: () => Scheduler) {}

  async handle (batch: readonly RecordedEvent[], context: ReactorContext): Promise<void> {
    for (const event of batch) {
      const jobId = processJobId(event.streamId)
      const metadata = { ...context.outcome(event, 'process'), commandId: uuidV5(`job/${jobId}`) }
      const orgId = event.metadata.orgId
      await this.jobs().schedule(PROCESS_JOB_TYPE, { streamId: event.streamId },
        { jobId, metadata: orgId === undefined ? metadata : { ...metadata, orgId } })
    }
  }
}
