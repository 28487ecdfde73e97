/**
 * Outbound webhooks, composed once per runtime: the secret store and the
 * SSRF-guarded client, the fan-out reactor, the delivery, probe and backlog
 * job handlers, the metrics, and what the endpoint use cases need.
 */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { Config } from '../../../config.ts'
import type { LogPosition } from '../../../eventstore/types.ts'
import type { SqlClient } from '../../../sql/client.ts'
import type { CommandServices } from '../../commands.ts'
import type { JobHandler } from '../../jobs/handlers.ts'
import type { Jobs } from '../../jobs/jobs.ts'
import { subscribable } from '../../../domain/webhooks/outbound-filters.ts'
import { outboundClient, type OutboundClient } from '../outbound-http.ts'
import { webhookSecretStoreOf } from '../secrets.ts'
import type { EndpointServices } from './endpoints.ts'
import { OutboundFanOut } from './fan-out.ts'
import { outboundJobHandlers } from './jobs.ts'
import { OutboundMetrics } from './metrics.ts'

export interface OutboundWebhooks {
  readonly fanOut: OutboundFanOut
  readonly handlers: readonly JobHandler[]
  readonly endpoints: EndpointServices
}

export interface OutboundOptions {
  readonly config: Config
  readonly sql: SqlClient
  readonly services: CommandServices
  /** Every registered event type: what may be subscribed is taken from them. */
  readonly eventTypes: readonly string[]
  readonly registry: Registry
  readonly logger: Logger
  readonly jobs: () => Jobs
  readonly readModelAt: (position: LogPosition) => Promise<void>
  /** The clock of attempts, timestamps and the disable rule (tests inject one). */
  readonly now?: () => Date
  /** A client other than the guarded one (tests). */
  readonly client?: OutboundClient
}

export function outboundWebhooks (options: OutboundOptions): OutboundWebhooks {
  const { config, sql, services, logger, jobs } = options
  const now = options.now ?? (() => new Date())
  const secrets = webhookSecretStoreOf(config, sql)
  const client = options.client ?? outboundClient({ allowPrivate: config.webhooks.allowPrivateTargets })
  const metrics = new OutboundMetrics(options.registry, sql, now)
  const disableAfterMs = config.webhooks.disableAfterMs
  const { readModelAt } = options
  const handlers = outboundJobHandlers({ services, sql, secrets, client, metrics, logger, now, disableAfterMs, jobs, readModelAt })
  const fanOut = new OutboundFanOut({ store: services.store, sql, jobs, readModelAt }, options.eventTypes)
  const endpoints: EndpointServices = {
    services, sql, secrets, jobs, allowPlainHttp: config.webhooks.allowPrivateTargets,
    subscribableTypes: options.eventTypes.filter(subscribable)
  }
  return { fanOut, handlers, endpoints }
}
