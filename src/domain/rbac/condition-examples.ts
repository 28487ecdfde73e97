/**
 * A worked example for every condition operator, as data: the condition, a
 * check where it holds and one where it does not. The docs render them next
 * to the grammar (GRAMMAR in conditions.ts), and a test runs each through
 * `can()`, so an example that stops being true fails the build.
 *
 * The resources are what `POST …/authz/check` takes: a type, an id, and
 * attributes that are scalars or lists of scalars.
 */
import type { Condition, EvaluationInput, Operator } from './conditions.ts'

/** One side of an example: the caller, the resource's attributes (besides its type and id) and the request context. */
export interface ExampleCheck {
  readonly principalId?: string
  readonly resource: Readonly<Record<string, unknown>>
  readonly context?: EvaluationInput['context']
}

export interface ConditionExample {
  readonly operator: Operator
  /** What the example stands for, in words. */
  readonly title: string
  readonly condition: Condition
  readonly holds: ExampleCheck
  readonly fails: ExampleCheck
}

/** The caller of every example, unless it names another. */
export const EXAMPLE_PRINCIPAL = 'usr_alice'

const ref = (path: string) => ({ ref: path })

export const CONDITION_EXAMPLES: readonly ConditionExample[] = [
  {
    operator: 'and',
    title: 'under 1,000 and in euros',
    condition: { and: [{ lt: [ref('resource.amount'), 1000] }, { eq: [ref('resource.currency'), 'EUR'] }] },
    holds: { resource: { amount: 250, currency: 'EUR' } },
    fails: { resource: { amount: 250, currency: 'USD' } }
  },
  {
    operator: 'or',
    title: 'their own invoice, or any with MFA',
    condition: { or: [{ eq: [ref('resource.createdBy'), ref('principal.id')] }, { eq: [ref('context.mfa'), true] }] },
    holds: { resource: { createdBy: 'usr_bob' }, context: { mfa: true } },
    fails: { resource: { createdBy: 'usr_bob' }, context: { mfa: false } }
  },
  {
    operator: 'not',
    title: 'not disputed (an invoice without a status is not disputed either)',
    condition: { not: { eq: [ref('resource.status'), 'disputed'] } },
    holds: { resource: { status: 'open' } },
    fails: { resource: { status: 'disputed' } }
  },
  {
    operator: 'eq',
    title: 'created by the caller',
    condition: { eq: [ref('resource.createdBy'), ref('principal.id')] },
    holds: { resource: { createdBy: EXAMPLE_PRINCIPAL } },
    fails: { resource: { createdBy: 'usr_bob' } }
  },
  {
    operator: 'ne',
    title: 'not in US dollars (false when the currency is missing)',
    condition: { ne: [ref('resource.currency'), 'USD'] },
    holds: { resource: { currency: 'EUR' } },
    fails: { resource: {} }
  },
  {
    operator: 'lt',
    title: 'under 1,000 (a string "999" is not a number: false)',
    condition: { lt: [ref('resource.amount'), 1000] },
    holds: { resource: { amount: 999 } },
    fails: { resource: { amount: '999' } }
  },
  {
    operator: 'lte',
    title: 'at most 1,000',
    condition: { lte: [ref('resource.amount'), 1000] },
    holds: { resource: { amount: 1000 } },
    fails: { resource: { amount: 1000.5 } }
  },
  {
    operator: 'gt',
    title: 'priority above 2',
    condition: { gt: [ref('resource.priority'), 2] },
    holds: { resource: { priority: 3 } },
    fails: { resource: { priority: 2 } }
  },
  {
    operator: 'gte',
    title: 'due in 2026 or later (ISO dates compare as text)',
    condition: { gte: [ref('resource.dueDate'), '2026-01-01'] },
    holds: { resource: { dueDate: '2026-03-31' } },
    fails: { resource: { dueDate: '2025-12-31' } }
  },
  {
    operator: 'in',
    title: 'in the EU or the UK',
    condition: { in: [ref('resource.region'), ['eu', 'uk']] },
    holds: { resource: { region: 'eu' } },
    fails: { resource: { region: 'us' } }
  },
  {
    operator: 'nin',
    title: 'neither archived nor void (false when the status is missing)',
    condition: { nin: [ref('resource.status'), ['archived', 'void']] },
    holds: { resource: { status: 'open' } },
    fails: { resource: { status: 'void' } }
  },
  {
    operator: 'contains',
    title: 'tagged urgent',
    condition: { contains: [ref('resource.tags'), 'urgent'] },
    holds: { resource: { tags: ['urgent', 'q4'] } },
    fails: { resource: { tags: ['q4'] } }
  },
  {
    operator: 'startsWith',
    title: 'a European cost centre',
    condition: { startsWith: [ref('resource.costCenter'), 'EU-'] },
    holds: { resource: { costCenter: 'EU-PAR-7' } },
    fails: { resource: { costCenter: 'US-NYC-1' } }
  },
  {
    operator: 'exists',
    title: 'approved by someone (null is not)',
    condition: { exists: ref('resource.approvedBy') },
    holds: { resource: { approvedBy: 'usr_carol' } },
    fails: { resource: { approvedBy: null } }
  },
  {
    operator: 'ipInCidr',
    title: 'from the office network (the IPv4-mapped form of an address counts too)',
    condition: { ipInCidr: [ref('context.ip'), '10.0.0.0/8'] },
    holds: { resource: {}, context: { ip: '::ffff:10.1.2.3' } },
    fails: { resource: {}, context: { ip: '192.168.1.7' } }
  },
  {
    operator: 'timeBetween',
    title: 'office hours in Paris (08:30 UTC is 09:30 there in March; 17:30 UTC is 18:30)',
    condition: { timeBetween: [ref('context.time'), '09:00', '18:00', 'Europe/Paris'] },
    holds: { resource: {}, context: { time: '2026-03-02T08:30:00Z' } },
    fails: { resource: {}, context: { time: '2026-03-02T17:30:00Z' } }
  }
]
