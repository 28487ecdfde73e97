/**
 * What inbound processing runs on, made from a runtime's parts: the job
 * handler, the scheduling reactor and the replay command share it. The
 * metrics are the registry's one set (metrics.ts).
 */
import type { Config } from '../../../config.ts'
import type { LogPosition } from '../../../eventstore/types.ts'
import type { Metrics } from '../../../metrics.ts'
import type { IdentityServices } from '../../identity/commands.ts'
import { inboundMetrics } from './metrics.ts'
import type { ProcessServices } from './process.ts'

/** The projection runner, as processing waits for it. */
export interface ReadModelWaiter {
  waitFor(position: LogPosition, timeoutMs: number, names?: readonly string[]): Promise<void>
}

export interface InboundParts {
  readonly config: Config
  readonly identity: IdentityServices
  readonly metrics: Metrics
  readonly runner: ReadModelWaiter
}

/** The inbound read model's name: processing waits for it before it calls a Stripe customer unknown. */
export const INBOUND_READ_MODEL = 'webhooks_inbound'

export function processServicesOf (parts: InboundParts, now: () => Date = () => new Date()): ProcessServices {
  const { config, identity, runner } = parts
  return {
    identity,
    prices: config.webhooksIn.stripePrices,
    metrics: inboundMetrics(parts.metrics.registry),
    waitForReadModel: async () =>
      runner.waitFor(await identity.store.committedHeadPosition(), config.consistencyTimeoutMs, [INBOUND_READ_MODEL]),
    now
  }
}
