/**
 * An organization's Standard Webhooks sources: what the routes under
 * `/v1/orgs/:orgId/webhooks/sources` call. A source is a stream
 * (`whsource-<sourceId>`, src/domain/webhooks/inbound-source.ts); its
 * secrets are in the secret store, shown in plain text once (when created
 * or rotated), and by fingerprint after. A source of another organization
 * is not found, as one that does not exist.
 *
 * Rotation gives a new secret and keeps the ones before it active for
 * 24 hours (or less, if they were to expire sooner), so the sender can move
 * over without a message refused. Disabling removes every secret: later
 * messages are refused as from an unknown source.
 */
import { aggregate } from '../../../domain/decider.ts'
import type { CommandMetadata } from '../../../domain/envelope.ts'
import { WebhookSourceDisabled, WebhookSourceNotFound, WebhookUnknownSource } from '../../../domain/webhooks/inbound-errors.ts'
import { sourceDecider, sourceStreamId, type SourceState } from '../../../domain/webhooks/inbound-source.ts'
import { execute, written, type CommandServices, type Written } from '../../commands.ts'
import { idFor } from '../../identity/secrets.ts'
import type { WebhookSecretStore } from '../secrets.ts'

/** How long the secrets before a rotation stay active. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000

export interface SourceServices extends CommandServices {
  readonly secrets: WebhookSecretStore
  readonly now: () => Date
}

type Found = Extract<SourceState, { status: 'enabled' | 'disabled' }>

/** A secret as it may be shown after its creation: by id and fingerprint, with when it stops being accepted. */
export interface SecretInfo {
  readonly secretId: string
  readonly fingerprint: string
  readonly createdAt: string
  readonly expiresAt: string | null
}

export interface NewSecret extends SecretInfo {
  /** `whsec_…`: shown this once. */
  readonly secret: string
}

const infoOf = (secret: { secretId: string, fingerprint: string, createdAt: Date, expiresAt: Date | null }): SecretInfo => ({
  secretId: secret.secretId, fingerprint: secret.fingerprint, createdAt: secret.createdAt.toISOString(),
  expiresAt: secret.expiresAt === null ? null : secret.expiresAt.toISOString()
})

/** The organization's source, enabled or not; another organization's is not found. */
export async function sourceOf (services: CommandServices, orgId: string, sourceId: string): Promise<Found> {
  const state = await aggregate(services.store, sourceDecider, sourceStreamId(sourceId))
  if (state.status === 'none' || state.orgId !== orgId) throw new WebhookSourceNotFound(undefined, { sourceId })
  return state
}

/** The enabled source a message is sent to; anything else is `webhook.unknown_source`. */
export async function enabledSource (services: CommandServices, sourceId: string): Promise<Found> {
  const state = await aggregate(services.store, sourceDecider, sourceStreamId(sourceId))
  if (state.status !== 'enabled') throw new WebhookUnknownSource()
  return state
}

export async function createSource (
  services: SourceServices, metadata: CommandMetadata, orgId: string, input: { name: string, description?: string | undefined }
): Promise<Written & { sourceId: string, secret: NewSecret }> {
  const sourceId = idFor(metadata.commandId, 'whs')
  const stored = await services.secrets.create(sourceId, { now: services.now() })
  const { position } = await execute(services, sourceDecider, sourceStreamId(sourceId), {
    type: 'CreateSource',
    data: {
      sourceId, orgId, name: input.name, description: input.description ?? null, secretId: stored.secretId, fingerprint: stored.fingerprint
    }
  }, { ...metadata, orgId })
  return { sourceId, secret: { ...infoOf(stored), secret: stored.secret }, ...written(position) }
}

/** A new secret, shown once; the active ones before it expire 24 hours from now at the latest. */
export async function rotateSourceSecret (
  services: SourceServices, metadata: CommandMetadata, orgId: string, sourceId: string
): Promise<Written & { secret: NewSecret, previous: SecretInfo[] }> {
  const source = await sourceOf(services, orgId, sourceId)
  const now = services.now()
  const until = new Date(now.getTime() + ROTATION_OVERLAP_MS)
  // Refused before a secret is made: a disabled source gets none (the decider refuses it again under the stream's version).
  if (source.status === 'disabled') throw new WebhookSourceDisabled()
  const before = await services.secrets.active(sourceId, now)
  const stored = await services.secrets.create(sourceId, { now })
  const previous: SecretInfo[] = []
  for (const secret of before) {
    const expiresAt = secret.expiresAt !== null && secret.expiresAt < until ? secret.expiresAt : until
    await services.secrets.expire(sourceId, secret.secretId, expiresAt)
    previous.push(infoOf({ ...secret, expiresAt }))
  }
  const { position } = await execute(services, sourceDecider, sourceStreamId(sourceId), {
    type: 'RotateSecret',
    data: {
      secretId: stored.secretId, fingerprint: stored.fingerprint,
      previous: previous.map(({ secretId, fingerprint, expiresAt }) => ({ secretId, fingerprint, expiresAt: expiresAt! }))
    }
  }, { ...metadata, orgId })
  return { secret: { ...infoOf(stored), secret: stored.secret }, previous, ...written(position) }
}

export async function disableSource (
  services: SourceServices, metadata: CommandMetadata, orgId: string, sourceId: string
): Promise<Written> {
  await sourceOf(services, orgId, sourceId)
  const { position } = await execute(services, sourceDecider, sourceStreamId(sourceId), { type: 'DisableSource', data: {} },
    { ...metadata, orgId })
  await services.secrets.removeAll(sourceId)
  return written(position)
}

/** The source's secrets that are still accepted, newest first: fingerprints only. */
export async function activeSecrets (services: SourceServices, sourceId: string): Promise<SecretInfo[]> {
  return (await services.secrets.active(sourceId, services.now())).map(infoOf)
}
