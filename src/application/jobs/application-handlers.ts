/**
 * The job handlers the application itself registers on every runtime (the
 * runtime adds them before its metrics are made, so their series start at
 * 0). Each lives beside the capability it serves; this list only gathers
 * them.
 */
import type { Logger } from 'pino'
import { auditVerifyJobHandler } from '../audit/verify-job.ts'
import type { Config } from '../../config.ts'
import type { EventStore } from '../../eventstore/types.ts'
import type { Metrics } from '../../metrics.ts'
import type { SqlClient } from '../../sql/client.ts'
import type { IdentityServices } from '../identity/commands.ts'
import { processJobHandler } from '../webhooks/inbound/process.ts'
import { processServicesOf, type ReadModelWaiter } from '../webhooks/inbound/services.ts'
import { drillPoisonJob } from './drill.ts'
import type { JobHandler } from './handlers.ts'

/** What the application's handlers may use: the runtime's parts, not the runtime. */
export interface ApplicationJobDeps {
  readonly config: Config
  readonly sql: SqlClient
  readonly store: EventStore
  readonly metrics: Metrics
  readonly logger: Logger
  /** The command services the handlers' effects are recorded through. */
  readonly identity: IdentityServices
  /** The projection runner, for handlers that read a read model and must see what was written before them. */
  readonly runner: ReadModelWaiter
}

export function applicationJobHandlers (deps: ApplicationJobDeps): JobHandler[] {
  return [
    // `audit.verify`: POST /v1/orgs/:orgId/audit-events/verify (src/application/audit/verify-job.ts).
    auditVerifyJobHandler(deps),
    // `drill.poison`: the `dead-job` drill (src/ops/drills.ts), which needs the instance itself to run its job.
    drillPoisonJob,
    // `webhook.process`: an inbound webhook's processing (src/application/webhooks/inbound/process.ts).
    processJobHandler(processServicesOf(deps))
  ]
}
