/**
 * The webhook secret store: `whsec_` secrets kept outside the event log,
 * answered in plain text for signing (the newest) and verifying (any active
 * one), active until the time a rotation set (not a millisecond longer),
 * encrypted under WEBHOOK_SECRETS_KEY when it is set, and refused clearly
 * when the key is not the one they were stored with. PGlite and PostgreSQL.
 */
import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import {
  secretFingerprint, webhookSecretStore, webhookSecretStoreOf, WebhookSecretsKeyMissing, WebhookSecretUnreadable
} from '../src/application/webhooks/secrets.ts'
import { forEachDatabase } from './helpers/databases.ts'

const T0 = new Date('2026-03-01T12:00:00.000Z')
const at = (ms: number): Date => new Date(T0.getTime() + ms)
const DAY = 86_400_000

t.test('secretFingerprint is sha256: and the first 16 hex characters of the secret\'s SHA-256', async (t) => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
  t.equal(secretFingerprint(secret), `sha256:${createHash('sha256').update(secret).digest('hex').slice(0, 16)}`)
  t.match(secretFingerprint(secret), /^sha256:[0-9a-f]{16}$/)
  t.not(secretFingerprint(secret), secretFingerprint(`${secret}x`), 'another secret, another fingerprint')
})

t.test('a created secret is a whsec_ secret of 32 random bytes, answered once with its fingerprint', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = webhookSecretStore(sql)
    const created = await store.create('source-1', { now: T0 })
    t.match(created.secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
    t.equal(Buffer.from(created.secret.slice('whsec_'.length), 'base64').length, 32)
    t.equal(created.fingerprint, secretFingerprint(created.secret))
    t.same(created.createdAt, T0)
    t.equal(created.expiresAt, null)
    const other = await store.create('source-1', { now: T0 })
    t.not(other.secret, created.secret, 'each secret is drawn anew')
    t.not(other.secretId, created.secretId)
  })
})

t.test('active answers an owner\'s secrets newest first: none, one, many; other owners\' never', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = webhookSecretStore(sql)
    t.same(await store.active('endpoint-a', T0), [], 'an owner without secrets has none')
    const first = await store.create('endpoint-a', { now: T0 })
    t.same(await store.active('endpoint-a', T0), [first], 'one secret, exactly as created')
    const many = [first]
    for (let i = 1; i < 40; i++) many.push(await store.create('endpoint-a', { now: at(i % 5 === 0 ? i - 1 : i) }))
    // Secrets created in the same millisecond still come newest first: by the order they were stored.
    const expected = [...many].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || many.indexOf(b) - many.indexOf(a))
    t.same((await store.active('endpoint-a', at(100))).map((s) => s.secretId), expected.map((s) => s.secretId))
    await store.create('endpoint-b', { now: T0 })
    t.equal((await store.active('endpoint-a', at(100))).length, 40, 'another owner\'s secret is not among them')
    await store.removeAll('endpoint-a')
    t.same(await store.active('endpoint-a', at(100)), [], 'removeAll deletes every secret of the owner')
    t.equal((await store.active('endpoint-b', at(100))).length, 1, 'and no other owner\'s')
  })
})

t.test('a rotation keeps the old secret active until its expiry, exclusive', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = webhookSecretStore(sql)
    const old = await store.create('endpoint-1', { now: T0 })
    const rotatedAt = at(60_000)
    const fresh = await store.create('endpoint-1', { now: rotatedAt })
    t.equal(await store.expire('endpoint-1', old.secretId, at(60_000 + DAY)), true)
    const ids = async (now: Date): Promise<string[]> => (await store.active('endpoint-1', now)).map((s) => s.secretId)
    t.same(await ids(rotatedAt), [fresh.secretId, old.secretId], 'the new secret signs, both verify')
    t.same(await ids(at(60_000 + DAY - 1)), [fresh.secretId, old.secretId], '1 ms before the expiry the old one is still active')
    t.same(await ids(at(60_000 + DAY)), [fresh.secretId], 'at the expiry exactly it is not')
    t.same(await ids(at(60_000 + DAY + 1)), [fresh.secretId], 'nor 1 ms after')
    const [kept] = await store.active('endpoint-1', rotatedAt)
    t.equal(kept!.expiresAt, null)
    t.same((await store.active('endpoint-1', rotatedAt))[1]!.expiresAt, at(60_000 + DAY), 'the old one carries its expiry')
  })
})

t.test('expire answers false for an unknown secret or another owner\'s, and changes nothing', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = webhookSecretStore(sql)
    const secret = await store.create('source-x', { now: T0 })
    t.equal(await store.expire('source-x', '00000000-0000-4000-8000-000000000000', T0), false)
    t.equal(await store.expire('source-y', secret.secretId, T0), false, 'the id of another owner\'s secret')
    t.same((await store.active('source-x', at(DAY))).map((s) => s.secretId), [secret.secretId])
    t.equal(await store.expire('source-x', secret.secretId, T0), true)
    t.same(await store.active('source-x', T0), [], 'expired now: not active now')
  })
})

t.test('with a key the stored column holds no plain text, and only that key reads it back', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const key = randomBytes(32)
    const store = webhookSecretStore(sql, key)
    const secret = await store.create('endpoint-k', { now: T0 })
    const { rows } = await sql.query<{ encryption: string, secret: Uint8Array }>(
      'SELECT encryption, secret FROM webhook_secrets WHERE owner_id = $1', ['endpoint-k'])
    t.equal(rows[0]!.encryption, 'aes-256-gcm')
    const stored = Buffer.from(rows[0]!.secret)
    t.notOk(stored.includes(Buffer.from(secret.secret)), 'not the secret')
    t.notOk(stored.includes(Buffer.from(secret.secret.slice('whsec_'.length), 'base64')), 'nor its bytes')
    t.same(await store.active('endpoint-k', T0), [secret], 'the same key reads it back')

    await t.rejects(webhookSecretStore(sql, randomBytes(32)).active('endpoint-k', T0), WebhookSecretUnreadable,
      'another key fails clearly')
    await t.rejects(webhookSecretStore(sql, randomBytes(32)).active('endpoint-k', T0), { code: 'webhook.secret_unreadable' })
    await t.rejects(webhookSecretStore(sql).active('endpoint-k', T0), WebhookSecretsKeyMissing, 'no key at all fails clearly too')

    // A ciphertext moved to another owner does not decrypt: it is bound to its row.
    await sql.query(`INSERT INTO webhook_secrets (owner_id, secret_id, encryption, secret, created_at)
      SELECT 'endpoint-thief', secret_id, encryption, secret, created_at FROM webhook_secrets WHERE owner_id = 'endpoint-k'`)
    await t.rejects(store.active('endpoint-thief', T0), WebhookSecretUnreadable)
  })
})

t.test('without a key secrets are stored in plain text, and stay readable once a key is set', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const plain = await webhookSecretStore(sql).create('source-p', { now: T0 })
    const { rows } = await sql.query<{ encryption: string, secret: Uint8Array }>('SELECT encryption, secret FROM webhook_secrets')
    t.equal(rows[0]!.encryption, 'none')
    t.equal(Buffer.from(rows[0]!.secret).toString('utf8'), plain.secret)
    const keyed = webhookSecretStore(sql, randomBytes(32))
    const sealed = await keyed.create('source-p', { now: at(1) })
    t.same((await keyed.active('source-p', at(1))).map((s) => s.secret), [sealed.secret, plain.secret])
  })
})

t.test('webhookSecretStoreOf encrypts when the configuration has WEBHOOK_SECRETS_KEY', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const key = randomBytes(32)
    const config = loadConfig({ NODE_ENV: 'test', WEBHOOK_SECRETS_KEY: key.toString('base64') })
    const secret = await webhookSecretStoreOf(config, sql).create('endpoint-c', { now: T0 })
    t.same(await webhookSecretStore(sql, key).active('endpoint-c', T0), [secret], 'the configured key is the one used')
    const { rows } = await sql.query<{ encryption: string }>('SELECT encryption FROM webhook_secrets')
    t.equal(rows[0]!.encryption, 'aes-256-gcm')
    const unkeyed = await webhookSecretStoreOf(loadConfig({ NODE_ENV: 'test' }), sql).create('endpoint-d', { now: T0 })
    t.equal((await webhookSecretStore(sql).active('endpoint-d', T0))[0]!.secret, unkeyed.secret)
  })
})

t.test('WEBHOOK_SECRETS_KEY must be the base64 of exactly 32 bytes, and is never printed', async (t) => {
  for (const bad of [randomBytes(31).toString('base64'), randomBytes(33).toString('base64'), 'not base64 at all!', 'a'.repeat(44)]) {
    t.throws(() => loadConfig({ WEBHOOK_SECRETS_KEY: bad }), /WEBHOOK_SECRETS_KEY: the base64 of exactly 32 bytes/, `${bad.length} characters`)
  }
  const key = randomBytes(32).toString('base64')
  const config = loadConfig({ WEBHOOK_SECRETS_KEY: key })
  t.equal(config.webhooks.secretsKey?.reveal(), key)
  t.notMatch(JSON.stringify(config), key)
  t.throws(() => webhookSecretStore({} as never, randomBytes(16)), /32 bytes, not 16/)
})
