/**
 * What each event means in the audit log: its organization, its target, and
 * the before/after of the fields it changed. Before-values come from the
 * projection's working state (`audit_state`), which the same events keep up
 * to date, so a rebuild computes the same diffs.
 *
 * Secrets never reach the log: a password change is `{ password: changed }`,
 * a token's hash is left out. An event type without an entry here is still
 * logged (action, actor, target from its stream, request facts) with no diff;
 * the test of this file requires an entry for every registered type, so a new
 * one cannot go unnoticed.
 */
import type { RecordedEvent } from '../../eventstore/types.ts'
import { canonicalJson } from './chain.ts'

export type StateValue = Record<string, unknown>

/** The projection's working state during a batch: read through, written back at the end. */
export interface WorkingState {
  get(key: string): StateValue | undefined
  set(key: string, value: StateValue | undefined): void
}

export interface Facts {
  readonly orgId: string | null
  readonly targetType: string | null
  readonly targetId: string | null
  readonly diff: Record<string, { before?: unknown, after?: unknown }> | null
}

type Data = Record<string, unknown>
interface Describer {
  /** State keys it reads, so a batch loads them in one query. */
  readonly keys: (event: RecordedEvent, data: Data) => string[]
  readonly describe: (event: RecordedEvent, data: Data, state: WorkingState) => Facts
}

const streamIdOf = (event: RecordedEvent): string => event.streamId.slice(event.streamId.indexOf('-') + 1)
const orgOf = (event: RecordedEvent): string => streamIdOf(event)

/** Before/after of the named fields that differ; undefined when nothing does. */
function changes (before: StateValue | undefined, after: StateValue | undefined, fields: readonly string[]): Facts['diff'] {
  const diff: Record<string, { before?: unknown, after?: unknown }> = {}
  for (const field of fields) {
    const was = before?.[field] ?? null
    const is = after?.[field] ?? null
    // Canonical: jsonb hands objects back with their keys in its own order.
    if (canonicalJson(was) !== canonicalJson(is)) diff[field] = { before: was, after: is }
  }
  return diff
}

const userKey = (id: string): string => `user:${id}`
const orgKey = (id: string): string => `org:${id}`
const memberKey = (org: string, user: unknown): string => `member:${org}/${String(user)}`
const roleKey = (org: string, role: unknown): string => `role:${org}/${String(role)}`
const tokenKey = (id: string): string => `token:${id}`
const sessionKey = (id: string): string => `impersonation:${id}`
/** An organization's assistant quota overrides (stream `ai-quotas-<orgId>`). */
const quotasKey = (org: string): string => `ai-quotas:${org}`
const quotasOrgOf = (event: RecordedEvent): string => event.streamId.replace(/^ai-quotas-/, '')
/** An organization's monthly AI budget (stream `ai-budget-<orgId>`). */
const budgetKey = (org: string): string => `ai-budget:${org}`
const budgetOrgOf = (event: RecordedEvent): string => event.streamId.replace(/^ai-budget-/, '')

const USER_FIELDS = ['email', 'displayName', 'status', 'platformAdmin', 'platformSupport']
const ORG_FIELDS = ['name', 'plan']
const ROLE_FIELDS = ['name', 'description', 'grants']

/** A change to one state entry, diffed on `fields`. */
function update (
  state: WorkingState, key: string, change: (before: StateValue | undefined) => StateValue | undefined, fields: readonly string[]
): Facts['diff'] {
  const before = state.get(key)
  const after = change(before)
  state.set(key, after)
  return changes(before, after, fields)
}

const onUser = (change: (before: StateValue | undefined, data: Data) => StateValue | undefined): Describer => ({
  keys: (e) => [userKey(streamIdOf(e))],
  describe: (e, d, state) => ({
    orgId: null, targetType: 'user', targetId: streamIdOf(e),
    diff: update(state, userKey(streamIdOf(e)), (before) => change(before, d), USER_FIELDS)
  })
})

const onOrg = (change: (before: StateValue | undefined, data: Data) => StateValue | undefined, fields = ORG_FIELDS): Describer => ({
  keys: (e) => [orgKey(orgOf(e))],
  describe: (e, d, state) => ({
    orgId: orgOf(e), targetType: 'organization', targetId: orgOf(e),
    diff: update(state, orgKey(orgOf(e)), (before) => change(before, d), fields)
  })
})

/** Member events: the member's roles before and after. */
const onMember = (change: (roles: readonly string[] | undefined, data: Data) => string[] | undefined): Describer => ({
  keys: (e, d) => [memberKey(orgOf(e), d.userId)],
  describe: (e, d, state) => ({
    orgId: orgOf(e),
    targetType: 'member',
    targetId: String(d.userId),
    diff: update(state, memberKey(orgOf(e), d.userId), (before) => {
      const roles = change(before?.roles as string[] | undefined, d)
      return roles === undefined ? undefined : { roles: [...new Set(roles)].sort() }
    }, ['roles'])
  })
})

const onRole = (change: (before: StateValue | undefined, data: Data) => StateValue | undefined): Describer => ({
  keys: (e, d) => [roleKey(orgOf(e), d.roleId)],
  describe: (e, d, state) => ({
    orgId: orgOf(e), targetType: 'role', targetId: String(d.roleId),
    diff: update(state, roleKey(orgOf(e), d.roleId), (before) => change(before, d), ROLE_FIELDS)
  })
})

const onToken = (change: (before: StateValue | undefined, data: Data) => StateValue | undefined, fields: readonly string[]): Describer => ({
  keys: (e) => [tokenKey(streamIdOf(e))],
  describe: (e, d, state) => ({
    orgId: null, targetType: 'token', targetId: streamIdOf(e),
    diff: update(state, tokenKey(streamIdOf(e)), (before) => change(before, d), fields)
  })
})

/** Audit-only events (src/domain/audit/events.ts) change no state: their diff is the facts they record, as `after` values. */
/** An invitation's event: about the invitation, in its organization; `diff` says what changed. */
const onInvitation = (diff: (data: Data) => NonNullable<Facts['diff']>): Describer => ({
  keys: () => [],
  describe: (e, d) => ({ orgId: orgOf(e), targetType: 'invitation', targetId: String(d.inviteId), diff: diff(d) })
})

const onAccess = (target: (d: Data) => [type: string, id: string | null], fields: readonly string[]): Describer => ({
  keys: () => [],
  describe: (_e, d) => {
    const [targetType, targetId] = target(d)
    const diff = Object.fromEntries(fields.filter((field) => d[field] !== undefined).map((field) => [field, { after: d[field] }]))
    return { orgId: typeof d.orgId === 'string' ? d.orgId : null, targetType, targetId, diff }
  }
})

/**
 * Impersonation events are about the person impersonated: the target is the
 * user, so the log answers "who acted as whom" and the user's security log
 * finds them. The session's organization, target and kind (`via`) come from
 * its request, kept in the working state; every row says `via`, so a user is
 * shown support's steps as support's. A request refused because the target
 * is no member is about no member: its target is the session, so nobody can
 * write into a stranger's security log. A started event's token hash is left
 * out.
 */
const onSession = (fields: readonly string[]): Describer => ({
  keys: (e) => [sessionKey(streamIdOf(e))],
  describe: (e, d, state) => {
    const sessionId = streamIdOf(e)
    let session = state.get(sessionKey(sessionId))
    if (d.targetUserId !== undefined && session === undefined) {
      session = { orgId: d.orgId, targetUserId: d.targetUserId, impersonatorId: d.impersonatorId, via: d.via }
      state.set(sessionKey(sessionId), session)
    }
    const diff: Record<string, { after: unknown }> = { sessionId: { after: sessionId }, via: { after: session?.via ?? null } }
    for (const field of fields) if (d[field] !== undefined) diff[field] = { after: d[field] }
    const orgId = typeof session?.orgId === 'string' ? session.orgId : null
    if (d.reason === 'target_not_member') {
      return { orgId, targetType: 'impersonation_session', targetId: sessionId, diff: { ...diff, targetUserId: { after: d.targetUserId } } }
    }
    return { orgId, targetType: 'user', targetId: typeof session?.targetUserId === 'string' ? session.targetUserId : null, diff }
  }
})

/** `<type>/<id>` or `<type>`, as grants name resources. */
/**
 * A job's events (src/domain/jobs/): about the job of their stream (a key's claim, about the job that claimed it), in the
 * organization the command named, else the platform's. Payloads, results and error messages stay out: they may carry an
 * organization's data or a driver's text; the job itself keeps them.
 */
const onJob = (fields: readonly string[], target: (e: RecordedEvent, d: Data) => string = streamIdOf): Describer => ({
  keys: () => [],
  describe: (e, d) => ({
    orgId: null,
    targetType: 'job',
    targetId: target(e, d),
    diff: Object.fromEntries(fields.filter((field) => d[field] !== undefined).map((field) => [field, { after: d[field] }]))
  })
})

/**
 * A tool call's events (src/domain/tools/): about the call, in the organization its command named. The request shows the
 * tool, the action and the input as recorded (secrets already redacted); outputs are never in the events.
 */
const onToolCall = (fields: readonly string[]): Describer => ({
  keys: () => [],
  describe: (e, d) => ({
    orgId: typeof d.orgId === 'string' ? d.orgId : null,
    targetType: 'tool_call',
    targetId: streamIdOf(e),
    diff: Object.fromEntries(fields.filter((field) => d[field] !== undefined).map((field) => [field, { after: d[field] }]))
  })
})

/**
 * Outbound webhook events (src/domain/webhooks/): about the endpoint or the message of their stream, in the organization
 * their command named. Secrets are never in them (fingerprints are); a message's payload and an answer's excerpt stay out.
 */
const onOutbound = (targetType: string, fields: readonly string[]): Describer => ({
  keys: () => [],
  describe: (e, d) => ({
    orgId: null,
    targetType,
    targetId: streamIdOf(e),
    diff: Object.fromEntries(fields.filter((field) => d[field] !== undefined).map((field) => [field, { after: d[field] }]))
  })
})

/**
 * An assistant conversation's events (src/domain/assistant/): about the conversation, in its organization (the command
 * names it). That a conversation, a message and a response happened, their sizes, ends and usage; never the text of a
 * message or a response (the owner alone reads those), nor a response's parts. Its tool calls are rows of their own.
 */
const onConversation = (fields: readonly string[]): Describer => ({
  keys: () => [],
  describe: (e, d) => ({
    orgId: e.metadata.orgId ?? null,
    targetType: 'conversation',
    targetId: streamIdOf(e),
    diff: Object.fromEntries(fields.filter((field) => d[field] !== undefined).map((field) => [field, { after: d[field] }]))
  })
})

/** What the month's spend did to the organization's budget: facts, not a state change to diff. */
const onBudget = (fields: readonly string[]): Describer => ({
  keys: () => [],
  describe: (e, d) => ({
    orgId: budgetOrgOf(e), targetType: 'ai_budget', targetId: budgetOrgOf(e),
    diff: Object.fromEntries(fields.map((field) => [field, { after: d[field] }]))
  })
})

const resourceTarget = (resource: string): [string, string | null] => {
  const slash = resource.indexOf('/')
  return slash === -1 ? [resource, null] : [resource.slice(0, slash), resource.slice(slash + 1)]
}

export const DESCRIBERS: Readonly<Record<string, Describer>> = {
  'identity.user.registered': onUser((_, d) => ({
    email: d.email, displayName: d.displayName, status: 'active', platformAdmin: false, platformSupport: false
  })),
  'identity.user.password_set': {
    keys: () => [],
    describe: (e) => ({ orgId: null, targetType: 'user', targetId: streamIdOf(e), diff: { password: { after: 'changed' } } })
  },
  'identity.user.disabled': onUser((before) => ({ ...before, status: 'disabled' })),
  'identity.user.enabled': onUser((before) => ({ ...before, status: 'active' })),
  'identity.user.staff_flags_set': onUser((before, d) => ({
    ...before, platformAdmin: d.platformAdmin, platformSupport: d.platformSupport
  })),
  'identity.email.reserved': {
    keys: () => [],
    describe: (_e, d) => ({ orgId: null, targetType: 'user', targetId: String(d.userId), diff: { email: { after: d.email } } })
  },
  'identity.token.created': onToken(
    (_, d) => ({ userId: d.userId, kind: d.kind, name: d.name, prefix: d.prefix, expiresAt: d.expiresAt ?? null, revoked: false }),
    ['userId', 'kind', 'name', 'prefix', 'expiresAt']),
  'identity.token.revoked': onToken((before) => ({ ...before, revoked: true }), ['revoked']),
  'org.organization.created': onOrg(
    (_, d) => ({ name: d.name, plan: d.plan, ownerId: d.ownerId, settings: {}, supportAccess: true }), [...ORG_FIELDS, 'ownerId']),
  'org.organization.renamed': onOrg((before, d) => ({ ...before, name: d.name })),
  'org.organization.plan_changed': onOrg((before, d) => ({ ...before, plan: d.plan })),
  'org.organization.audit_retention_set': onOrg((before, d) => ({ ...before, auditRetentionDays: d.days }), ['auditRetentionDays']),
  'audit.log.purged': {
    keys: () => [],
    describe: (_e, d) => ({
      orgId: (d.orgId as string | null) ?? null,
      targetType: 'audit_log',
      targetId: (d.orgId as string | null) ?? 'platform',
      diff: {
        throughSeq: { after: d.throughSeq }, rows: { after: d.rows }, before: { after: d.before }, retentionDays: { after: d.retentionDays }
      }
    })
  },
  'org.organization.settings_changed': {
    keys: (e) => [orgKey(orgOf(e))],
    describe: (e, d, state) => {
      const before = state.get(orgKey(orgOf(e)))
      const was = (before?.settings ?? {}) as StateValue
      const settings = { ...was, ...(d.settings as StateValue) }
      state.set(orgKey(orgOf(e)), { ...before, settings })
      const diff = changes(was, settings, Object.keys(d.settings as StateValue).sort())
      return {
        orgId: orgOf(e), targetType: 'organization', targetId: orgOf(e),
        diff: Object.fromEntries(Object.entries(diff ?? {}).map(([k, v]) => [`settings.${k}`, v]))
      }
    }
  },
  'org.member.invited': {
    keys: () => [],
    describe: (e, d) => ({
      orgId: orgOf(e), targetType: 'invitation', targetId: String(d.inviteId),
      diff: { email: { after: d.email }, roles: { after: d.roles } }
    })
  },
  // The token's hash is left out, like an API token's.
  'org.invitation.created': onInvitation((d) => ({
    email: { after: d.email }, roles: { after: d.roles }, expiresAt: { after: d.expiresAt }
  })),
  'org.invitation.accepted': onInvitation((d) => ({ status: { before: 'pending', after: 'accepted' }, userId: { after: d.userId } })),
  'org.invitation.revoked': onInvitation((d) => ({
    status: { before: 'pending', after: 'revoked' }, ...(d.reason === undefined ? {} : { reason: { after: d.reason } })
  })),
  'org.invitation.expired': onInvitation(() => ({ status: { before: 'pending', after: 'expired' } })),
  'org.member.added': onMember((_, d) => d.roles as string[]),
  'org.member.removed': onMember(() => undefined),
  'org.member.role_assigned': onMember((roles, d) => [...(roles ?? []), String(d.role)]),
  'org.member.role_unassigned': onMember((roles, d) => (roles ?? []).filter((role) => role !== d.role)),
  'rbac.role.assigned': onMember((roles, d) => [...(roles ?? []), String(d.roleId)]),
  'rbac.role.unassigned': onMember((roles, d) => (roles ?? []).filter((role) => role !== d.roleId)),
  'rbac.role.created': onRole((_, d) => ({ name: d.name, description: d.description, grants: d.grants })),
  'rbac.role.renamed': onRole((before, d) => ({ ...before, name: d.name })),
  'rbac.role.described': onRole((before, d) => ({ ...before, description: d.description })),
  'rbac.role.grants_set': onRole((before, d) => ({ ...before, grants: d.grants })),
  'rbac.role.deleted': onRole(() => undefined),
  'identity.session.signed_in': onAccess((d) => ['user', String(d.userId)], ['method', 'tokenId']),
  // An address no user holds is the target itself: who tries which addresses is what a security team looks for.
  'identity.session.sign_in_failed': onAccess(
    (d) => d.userId === undefined ? ['email', String(d.email)] : ['user', String(d.userId)], ['email', 'reason']),
  'identity.token.used_from_new_ip': onAccess((d) => ['token', String(d.tokenId)], ['ip', 'previousIpCount']),
  'audit.log.searched': onAccess((d) => ['audit_log', String(d.orgId)], ['filters']),
  'audit.platform_log.searched': onAccess(() => ['audit_log', null], ['filters']),
  'audit.log.exported': onAccess((d) => ['audit_log', String(d.orgId)], ['format', 'filters', 'rows']),
  'audit.record.sensitive_read': onAccess((d) => resourceTarget(String(d.resource)), ['action', 'resource']),
  'authz.access.denied': onAccess((d) => resourceTarget(String(d.resource)),
    ['action', 'resource', 'reason', 'count', 'firstAt', 'lastAt']),
  'org.organization.support_access_set': onOrg((before, d) => ({ ...before, supportAccess: d.enabled }), ['supportAccess']),
  'org.organization.billing_linked': onOrg((before, d) => ({ ...before, billingCustomerId: d.customerId }), ['billingCustomerId']),
  'impersonation.session.requested': onSession(['impersonatorId', 'via', 'reason', 'ticket', 'durationMinutes', 'critical', 'breakGlass']),
  'impersonation.session.approved': onSession(['approverId', 'via']),
  'impersonation.session.started': onSession(['startedAt', 'expiresAt', 'via', 'critical', 'breakGlass']),
  'impersonation.session.action_recorded': onSession(['method', 'route', 'action', 'outcome']),
  'impersonation.session.stopped': onSession(['stoppedBy']),
  'impersonation.session.expired': onSession(['at', 'stage']),
  'impersonation.session.revoked': onSession(['revokedBy', 'reason', 'note']),
  'impersonation.session.denied': onSession(['reason', 'impersonatorId', 'via', 'requestReason', 'ticket', 'deniedBy', 'note']),
  // The lock that keeps an impersonator to one session: about the session it was taken for.
  'impersonation.impersonator.reserved': onAccess((d) => ['impersonation_session', String(d.sessionId)], ['sessionId']),
  'job.scheduled': onJob(['jobType', 'runAt', 'key', 'keyMode', 'maxAttempts', 'timeoutSeconds']),
  'job.attempt.started': onJob(['attempt', 'node', 'leaseUntil']),
  'job.lease.renewed': onJob(['attempt', 'node', 'leaseUntil']),
  'job.attempt.succeeded': onJob(['attempt', 'node']),
  'job.attempt.failed': onJob(['attempt', 'node', 'code', 'retryAt']),
  'job.dead': onJob(['attempts', 'reason']),
  'job.cancelled': onJob(['by', 'reason', 'replacedBy', 'note']),
  'job.retried': onJob(['by', 'runAt', 'maxAttempts']),
  'job.key.claimed': onJob(['jobType', 'key', 'previous'], (_e, d) => String(d.jobId)),
  'ai.tool.call.requested': onToolCall(['tool', 'action', 'input', 'approval', 'impersonatorId']),
  'ai.tool.call.approval_requested': onToolCall(['approverId', 'expiresAt']),
  'ai.tool.call.approved': onToolCall(['by']),
  'ai.tool.call.denied': onToolCall(['reason', 'by', 'action']),
  'ai.tool.call.started': onToolCall(['attempt', 'timeoutMs']),
  'ai.tool.call.succeeded': onToolCall(['attempt', 'durationMs', 'outputBytes']),
  'ai.tool.call.failed': onToolCall(['attempt', 'code', 'message', 'retryAt']),
  'ai.tool.call.timed_out': onToolCall(['attempt', 'timeoutMs', 'retryAt']),
  // Inbound webhooks (docs/webhooks-in.md): a source's changes name its fingerprints, never a secret; a message's rows name
  // what was received, never its body.
  'webhook.source.created': onAccess((d) => ['webhook_source', String(d.sourceId)], ['name', 'description', 'fingerprint']),
  'webhook.source.secret_rotated': onAccess((d) => ['webhook_source', String(d.sourceId)], ['fingerprint', 'previous']),
  'webhook.source.disabled': onAccess((d) => ['webhook_source', String(d.sourceId)], []),
  'webhook.received': onAccess((d) => ['webhook_message', `${String(d.sourceId)}/${String(d.messageId)}`],
    ['source', 'messageId', 'eventType', 'receivedAt']),
  'webhook.processed': { keys: () => [], describe: (e, d) => ({
    orgId: typeof d.orgId === 'string' ? d.orgId : null, targetType: 'webhook_message', targetId: streamIdOf(e),
    diff: { outcome: { after: d.outcome }, ...(d.reason === undefined ? {} : { reason: { after: d.reason } }) }
  }) },
  'webhook.object.applied': onAccess((d) => ['stripe_object', String(d.objectId)],
    ['objectType', 'eventId', 'eventType', 'created', 'plan']),
  // Outbound webhooks (docs/webhooks-out.md): endpoints name fingerprints, never a secret; messages and attempts name what was
  // sent and how it was answered, never the payload or the answer.
  'webhook.endpoint.created': onOutbound('webhook_endpoint', ['url', 'description', 'eventTypes', 'enabled', 'secretFingerprint']),
  'webhook.endpoint.updated': onOutbound('webhook_endpoint', ['url', 'description', 'eventTypes']),
  'webhook.endpoint.secret_rotated': onOutbound('webhook_endpoint', ['secretFingerprint', 'previousFingerprint', 'previousExpiresAt']),
  'webhook.endpoint.disabled': onOutbound('webhook_endpoint', ['reason', 'failingSince', 'messageId']),
  'webhook.endpoint.enabled': onOutbound('webhook_endpoint', ['by']),
  'webhook.endpoint.deleted': onOutbound('webhook_endpoint', []),
  'webhook.message.created': onOutbound('webhook_message', ['endpointId', 'eventType', 'sourceEventId']),
  'webhook.message.held': onOutbound('webhook_message', ['reason']),
  'webhook.attempt.recorded': onOutbound('webhook_message', ['endpointId', 'attempt', 'outcome', 'status', 'durationMs', 'errorCode']),
  'webhook.message.exhausted': onOutbound('webhook_message', ['attempts', 'errorCode']),
  'ai.conversation.started': onConversation(['ownerId', 'model']),
  'ai.message.added': onConversation(['messageId', 'chars']),
  'ai.response.started': onConversation(['responseId', 'messageId', 'model']),
  'ai.response.chunk': onConversation(['responseId', 'seq']),
  'ai.response.completed': onConversation(['responseId', 'finishReason', 'steps', 'pendingCallIds']),
  'ai.response.aborted': onConversation(['responseId', 'reason', 'by']),
  'ai.response.failed': onConversation(['responseId', 'code']),
  'ai.response.stop_requested': onConversation(['responseId', 'by']),
  // Overrides of the plan's assistant quotas: before and after (null: the plan's default).
  'ai.quotas.changed': {
    keys: (e) => [quotasKey(quotasOrgOf(e))],
    describe: (e, d, state) => ({
      orgId: quotasOrgOf(e), targetType: 'ai_quotas', targetId: quotasOrgOf(e),
      diff: update(state, quotasKey(quotasOrgOf(e)), () => ({ requestsPerMinute: d.requestsPerMinute, tokensPerDay: d.tokensPerDay }),
        ['requestsPerMinute', 'tokensPerDay'])
    })
  },
  // The organization's own monthly budget, before and after (null: the plan's), and why.
  'ai.budget.set': {
    keys: (e) => [budgetKey(budgetOrgOf(e))],
    describe: (e, d, state) => ({
      orgId: budgetOrgOf(e), targetType: 'ai_budget', targetId: budgetOrgOf(e),
      diff: { ...update(state, budgetKey(budgetOrgOf(e)), () => ({ monthlyMicros: d.monthlyMicros }), ['monthlyMicros']),
        reason: { after: d.reason } }
    })
  },
  'ai.budget.threshold_crossed': onBudget(['month', 'threshold', 'spentMicros', 'budgetMicros']),
  'ai.budget.exhausted': onBudget(['month', 'spentMicros', 'budgetMicros']),
  'ai.budget.unblocked': onBudget(['month', 'spentMicros', 'budgetMicros', 'reason']),
  'ai.usage.recorded': onConversation(['responseId', 'model', 'inputTokens', 'outputTokens', 'cachedInputTokens', 'source', 'costMicros'])
}

/** Facts of an event no describer knows: its stream says what it is about. */
export function genericFacts (event: RecordedEvent): Facts {
  const dash = event.streamId.indexOf('-')
  const category = dash === -1 ? event.streamId : event.streamId.slice(0, dash)
  const id = dash === -1 ? null : event.streamId.slice(dash + 1)
  return { orgId: category === 'org' ? id : (event.metadata.orgId ?? null), targetType: category, targetId: id, diff: null }
}

export function stateKeysOf (event: RecordedEvent): string[] {
  const keys = DESCRIBERS[event.type]?.keys(event, event.data as Data) ?? []
  return event.metadata.actor.type === 'user' ? [...keys, userKey(event.metadata.actor.id)] : keys
}

export function describe (event: RecordedEvent, state: WorkingState): Facts & { actorLabel: string | null } {
  const describer = DESCRIBERS[event.type]
  const facts = describer === undefined ? genericFacts(event) : describer.describe(event, event.data as Data, state)
  const { actor } = event.metadata
  const actorLabel = actor.type === 'user' ? ((state.get(userKey(actor.id))?.email as string | undefined) ?? null) : actor.id
  // Facts say which organization an event of a user or token stream concerns when the command named one.
  const orgId = facts.orgId ?? event.metadata.orgId ?? null
  return { ...facts, orgId, diff: facts.diff !== null && Object.keys(facts.diff).length === 0 ? null : facts.diff, actorLabel }
}
