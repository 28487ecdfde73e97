/**
 * A Standard Webhooks source (`whsource-<sourceId>`): an organization's
 * sender of messages to `POST /v1/webhooks/in/:sourceId`. Created with one
 * secret, rotated (the old secrets kept 24 h), disabled for good. The
 * secrets themselves are the secret store's; the events name them by id and
 * fingerprint.
 */
import type { Decider } from '../decider.ts'
import { WebhookSourceDisabled, WebhookSourceNotFound } from './inbound-errors.ts'
import type { WebhookSourceEvent } from './inbound-events.ts'

export const sourceStreamId = (sourceId: string): string => `whsource-${sourceId}`

export interface SecretRef { readonly secretId: string, readonly fingerprint: string }

export type SourceState =
  | { status: 'none' }
  | {
    status: 'enabled' | 'disabled'
    sourceId: string
    orgId: string
    name: string
    description: string | null
    /** The secrets it was given, oldest first: the store knows which are still active. */
    secrets: SecretRef[]
  }

export type SourceCommand =
  | { type: 'CreateSource', data: { sourceId: string, orgId: string, name: string, description: string | null } & SecretRef }
  | { type: 'RotateSecret', data: SecretRef & { previous: Array<SecretRef & { expiresAt: string }> } }
  | { type: 'DisableSource', data: Record<string, never> }

function existing (state: SourceState): Extract<SourceState, { status: 'enabled' | 'disabled' }> {
  if (state.status === 'none') throw new WebhookSourceNotFound()
  return state
}

function decide (command: SourceCommand, state: SourceState): WebhookSourceEvent[] {
  switch (command.type) {
    case 'CreateSource':
      // The source id derives from the command: the same command again is a replay, handled before decide.
      if (state.status !== 'none') return []
      return [{ type: 'webhook.source.created', data: command.data }]
    case 'RotateSecret': {
      const source = existing(state)
      if (source.status === 'disabled') throw new WebhookSourceDisabled()
      return [{ type: 'webhook.source.secret_rotated', data: { sourceId: source.sourceId, ...command.data } }]
    }
    case 'DisableSource': {
      const source = existing(state)
      return source.status === 'disabled' ? [] : [{ type: 'webhook.source.disabled', data: { sourceId: source.sourceId } }]
    }
    default: {
      const never: never = command
      throw new Error(`unknown command ${(never as { type: string }).type}`)
    }
  }
}

function evolve (state: SourceState, event: WebhookSourceEvent): SourceState {
  switch (event.type) {
    case 'webhook.source.created': {
      const { sourceId, orgId, name, description, secretId, fingerprint } = event.data
      return { status: 'enabled', sourceId, orgId, name, description, secrets: [{ secretId, fingerprint }] }
    }
    case 'webhook.source.secret_rotated': {
      const source = existing(state)
      return { ...source, secrets: [...source.secrets, { secretId: event.data.secretId, fingerprint: event.data.fingerprint }] }
    }
    case 'webhook.source.disabled': return { ...existing(state), status: 'disabled' }
  }
}

export const sourceDecider: Decider<SourceCommand, WebhookSourceEvent, SourceState> = {
  decide,
  evolve,
  initialState: () => ({ status: 'none' })
}
