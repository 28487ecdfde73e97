/**
 * The organization's assistant quotas as holders of `ai:manage` read and set
 * them (`GET|PUT /v1/orgs/:orgId/ai/quotas`), and the limits `AiQuotas.admit`
 * enforces: the plan's defaults with the organization's overrides over them.
 * Both streams are read through the state cache: an unchanged stream costs one
 * indexed query that returns nothing.
 */
import { readState } from '../../domain/decider.ts'
import type { CommandMetadata } from '../../domain/envelope.ts'
import type { Plan } from '../../domain/identity/events.ts'
import {
  limitsFor, PLAN_QUOTAS, quotaDecider, quotaStreamId, type QuotaLimits, type QuotaOverrides
} from '../../domain/assistant/quota.ts'
import { activeOrganization } from '../billing/plan.ts'
import { execute, written, type Written } from '../commands.ts'
import type { IdentityServices } from '../identity/commands.ts'
import type { AiQuotaSources } from './quotas.ts'

export interface QuotaSettings {
  readonly plan: Plan
  /** The plan's defaults. */
  readonly defaults: QuotaLimits
  /** The organization's own figures; null where the plan's default applies. */
  readonly overrides: QuotaOverrides
  /** What is enforced. */
  readonly limits: QuotaLimits
}

async function overridesOf (services: IdentityServices, orgId: string): Promise<QuotaOverrides> {
  return (await readState(services.store, quotaDecider, quotaStreamId(orgId), services.states)).state
}

export async function quotaSettings (services: IdentityServices, orgId: string): Promise<QuotaSettings> {
  const { plan } = await activeOrganization(services, orgId)
  const overrides = await overridesOf(services, orgId)
  return { plan, defaults: PLAN_QUOTAS[plan], overrides, limits: limitsFor(plan, overrides) }
}

/** Sets the overrides it names (null: back to the plan's default); setting what is set records nothing. */
export async function setQuotas (
  services: IdentityServices, metadata: CommandMetadata, orgId: string, change: Partial<QuotaOverrides>
): Promise<QuotaSettings & Written> {
  const { plan } = await activeOrganization(services, orgId)
  const { state, position } = await execute(services, quotaDecider, quotaStreamId(orgId), { type: 'SetQuotas', data: change }, metadata)
  return { plan, defaults: PLAN_QUOTAS[plan], overrides: state, limits: limitsFor(plan, state), ...written(position) }
}

/** What `AiQuotas` reads: the limits in force. */
export function aiQuotaSources (services: IdentityServices): AiQuotaSources {
  return { limitsOf: async (orgId) => (await quotaSettings(services, orgId)).limits }
}
