/**
 * The only reader of process.env (DESIGN.md §8). Parsed once, strictly, at
 * start-up; a bad value stops the process with a message naming it. Tests
 * build a Config with `loadConfig({...})` and never touch the environment.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { parsePrices, type PriceTable } from './application/assistant/pricing.ts'
import { ACTION_NAME, type HostAction } from './domain/rbac/permissions.ts'

const port = z.coerce.number().int().min(0).max(65535)
const positiveInt = z.coerce.number().int().positive()
/** Whole micro-units of currency, from 0 (no assistant) up to $10,000,000 a month. */
const budgetMicros = z.coerce.number().int().min(0).max(10_000_000_000_000)
const optionalUrl = (protocols: readonly string[]) => z.string().trim()
  .transform((value) => (value === '' ? undefined : value))
  .refine((value) => value === undefined || protocols.some((p) => value.startsWith(p)),
    { message: `must start with ${protocols.join(' or ')}` })
  .optional()

/** An Ed25519 private key: PEM (newlines may be written as \\n) or base64 of its PKCS#8 DER; empty for none. */
const ed25519PrivateKey = z.string().trim().optional().transform((value, ctx) => {
  if (value === undefined || value === '') return undefined
  let key: KeyObject
  try {
    key = value.startsWith('-----BEGIN')
      ? createPrivateKey(value.replaceAll('\\n', '\n'))
      : createPrivateKey({ key: Buffer.from(value, 'base64'), format: 'der', type: 'pkcs8' })
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not a private key: give a PEM or the base64 of a PKCS#8 DER' })
    return z.NEVER
  }
  if (key.asymmetricKeyType === 'ed25519') return key
  ctx.addIssue({ code: 'custom', message: `must be an Ed25519 key, not ${key.asymmetricKeyType ?? 'unknown'}` })
  return z.NEVER
})

/** A Stripe price id (`price_…`); empty for none. */
const stripePrice = z.string().trim().optional().transform((value) => (value === '' ? undefined : value))
  .refine((value) => value === undefined || /^price_[A-Za-z0-9_]+$/.test(value), 'must be a Stripe price id (price_…)')

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(3000),
  DATABASE_URL: optionalUrl(['postgres://', 'postgresql://']),
  DATABASE_POOL_SIZE: positiveInt.max(200).default(10),
  LEDGERLINE_DATA_DIR: z.string().min(1).default('./.ledgerline'),
  KURRENTDB_URL: optionalUrl(['kurrentdb://', 'kurrentdb+discover://', 'esdb://', 'esdb+discover://']),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PROJECTION_BATCH_SIZE: positiveInt.max(10_000).default(500),
  READY_MAX_LAG_SECONDS: positiveInt.default(30),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  SESSION_TTL_HOURS: positiveInt.max(24 * 30).default(12),
  INVITATION_TTL_HOURS: positiveInt.max(24 * 90).default(24 * 7),
  CONSISTENCY_TIMEOUT_MS: positiveInt.max(60_000).default(5000),
  LOGIN_RATE_LIMIT_PER_MINUTE: positiveInt.max(10_000).default(10),
  TRUST_PROXY: z.string().trim().default(''),
  LIVE_READ_INTERVAL_MS: z.coerce.number().int().min(0).max(1000).default(20),
  PERMISSIONS_FILE: z.string().trim().default(''),
  AUDIT_SIGNING_KEY: ed25519PrivateKey,
  METRICS_TOKEN: z.string().trim().default('').refine((value) => value === '' || value.length >= 16,
    'at least 16 characters (e.g. openssl rand -hex 32)'),
  METRICS_PORT: z.union([z.literal(''), port]).optional().transform((value) => (value === '' ? undefined : value)),
  METRICS_HOST: z.string().trim().min(1).default('127.0.0.1'),
  HTTP_REQUEST_TIMEOUT_MS: positiveInt.max(3_600_000).default(30_000),
  HTTP_HEADERS_TIMEOUT_MS: positiveInt.max(3_600_000).default(10_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: positiveInt.max(3_600_000).default(72_000),
  HTTP_CONNECTION_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(120_000),
  JOB_LEASE_SECONDS: positiveInt.min(2).max(3600).default(30),
  JOB_CONCURRENCY: positiveInt.max(256).default(8),
  JOB_CLAIM_BATCH: z.union([z.literal(''), positiveInt.max(1000)]).optional().transform((value) => (value === '' ? undefined : value)),
  JOB_PREFETCH: z.union([z.literal(''), z.coerce.number().int().min(0).max(1000)]).optional()
    .transform((value) => (value === '' ? undefined : value)),
  JOB_POLL_INTERVAL_MS: positiveInt.min(10).max(60_000).default(1000),
  JOB_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(3_600_000).default(5000),
  STRIPE_SECRET_KEY: z.string().trim().optional().transform((value) => (value === '' ? undefined : value))
    .refine((value) => value === undefined || /^(sk|rk)_(test|live)_[A-Za-z0-9]+$/.test(value),
      'must be a Stripe secret or restricted key (sk_test_…, sk_live_…, rk_…)'),
  STRIPE_PRICE_PRO: stripePrice,
  STRIPE_PRICE_ENTERPRISE: stripePrice,
  STRIPE_API_BASE: optionalUrl(['http://', 'https://']),
  STRIPE_WEBHOOK_SECRET: z.string().trim().default('').refine((value) => listOf(value).every((secret) => /^whsec_[A-Za-z0-9+/=_-]{8,}$/.test(secret)),
    'comma-separated Stripe webhook signing secrets (whsec_…)'),
  WEBHOOK_INBOUND_RATE_PER_SECOND: positiveInt.max(100_000).default(50),
  PUBLIC_URL: z.string().trim().default('').refine((value) => value === '' || originOf(value) !== undefined,
    'an http(s) origin such as https://ledgerline.example.com (no path, query or fragment)'),
  MCP_ALLOWED_ORIGINS: z.string().trim().default('').refine((value) => listOf(value).every((origin) => originOf(origin) !== undefined),
    'comma-separated http(s) origins such as https://app.example.com'),
  WEBHOOK_SECRETS_KEY: z.string().trim().default('').refine((value) => value === '' || isBase64Key(value),
    'the base64 of exactly 32 bytes (e.g. openssl rand -base64 32)'),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: z.enum(['true', 'false', '']).default('false'),
  // Svix's five days; at least a minute (a blip must not disable an endpoint), at most 30 days.
  WEBHOOK_DISABLE_AFTER_MS: positiveInt.min(60_000).max(30 * 86_400_000).default(5 * 86_400_000),
  OPENAI_BASE_URL: optionalUrl(['http://', 'https://']),
  OPENAI_API_KEY: z.string().trim().optional().transform((value) => (value === '' ? undefined : value)),
  AI_MODEL: z.string().trim().min(1).max(200).default('gpt-4o-mini'),
  AI_MAX_STEPS: positiveInt.max(50).default(8),
  AI_HEARTBEAT_MS: positiveInt.min(10).max(300_000).default(15_000),
  AI_CHUNK_INTERVAL_MS: positiveInt.min(1).max(5000).default(75),
  AI_UPSTREAM_IDLE_TIMEOUT_MS: positiveInt.min(100).max(600_000).default(60_000),
  AI_ABANDONED_AFTER_MS: positiveInt.min(1000).max(3_600_000).default(300_000),
  AI_MAX_OUTPUT_TOKENS: positiveInt.max(1_000_000).default(4096),
  // Monthly budgets per plan, micro-USD: $10, $500 and $10,000 (docs/ai-budgets.md).
  AI_BUDGET_FREE_MICROS: budgetMicros.default(10_000_000),
  AI_BUDGET_PRO_MICROS: budgetMicros.default(500_000_000),
  AI_BUDGET_ENTERPRISE_MICROS: budgetMicros.default(10_000_000_000),
  AI_BUDGET_RESERVATION_TTL_MS: positiveInt.min(1000).max(86_400_000).default(900_000),
  AI_PRICES: z.string().trim().default('').superRefine((value, context) => {
    try {
      parsePrices(value)
    } catch (error) {
      context.addIssue({ code: 'custom', message: (error as Error).message })
    }
  })
}).refine((e) => e.HTTP_HEADERS_TIMEOUT_MS <= e.HTTP_REQUEST_TIMEOUT_MS,
  { path: ['HTTP_HEADERS_TIMEOUT_MS'], message: 'must not exceed HTTP_REQUEST_TIMEOUT_MS (the headers are part of the request)' })
  .refine((e) => e.JOB_SHUTDOWN_GRACE_MS < e.SHUTDOWN_TIMEOUT_MS,
    { path: ['JOB_SHUTDOWN_GRACE_MS'], message: 'must be less than SHUTDOWN_TIMEOUT_MS (running jobs are released within the shutdown)' })
  .refine((e) => e.STRIPE_SECRET_KEY === undefined || (e.STRIPE_PRICE_PRO !== undefined && e.STRIPE_PRICE_ENTERPRISE !== undefined),
    { path: ['STRIPE_SECRET_KEY'], message: 'needs STRIPE_PRICE_PRO and STRIPE_PRICE_ENTERPRISE (the prices a plan change subscribes to)' })
  .refine((e) => e.AI_ABANDONED_AFTER_MS > e.AI_UPSTREAM_IDLE_TIMEOUT_MS,
    { path: ['AI_ABANDONED_AFTER_MS'], message: 'must exceed AI_UPSTREAM_IDLE_TIMEOUT_MS (a live node gives up a silent upstream first)' })
  .refine((e) => e.AI_BUDGET_FREE_MICROS <= e.AI_BUDGET_PRO_MICROS && e.AI_BUDGET_PRO_MICROS <= e.AI_BUDGET_ENTERPRISE_MICROS,
    { path: ['AI_BUDGET_PRO_MICROS'], message: 'plans\' budgets must not decrease: free ≤ pro ≤ enterprise' })
  .refine((e) => e.STRIPE_API_BASE === undefined || e.NODE_ENV !== 'production',
    { path: ['STRIPE_API_BASE'], message: 'is for tests (a Stripe fake or stripe-mock): production talks to Stripe itself' })

/** The host application's actions, as `PERMISSIONS_FILE` (JSON or YAML) lists them. */
/** `value` as an origin (`https://host[:port]`), or undefined when it is not an http(s) URL without path, query or fragment. */
function originOf (value: string): string | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  const bare = url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '' && url.password === ''
  return (url.protocol === 'https:' || url.protocol === 'http:') && bare ? url.origin : undefined
}

/** Base64 (standard alphabet, padded) of exactly 32 bytes: an AES-256 key. */
const isBase64Key = (value: string): boolean => {
  const bytes = Buffer.from(value, 'base64')
  return bytes.length === 32 && bytes.toString('base64') === value
}

const listOf = (value: string): string[] => value.split(',').map((item) => item.trim()).filter((item) => item !== '')

/** The host application's actions, as `PERMISSIONS_FILE` (JSON or YAML) lists them. */
const PermissionsFile = z.object({
  actions: z.array(z.object({
    action: z.string().regex(ACTION_NAME, '<resource>:<verb> in lower case'),
    description: z.string().trim().min(1).max(500),
    sensitive: z.boolean().optional(),
    ownerOnly: z.boolean().optional(),
    builtInRoles: z.array(z.enum(['member', 'viewer'])).optional()
  }).strict()).max(1000)
}).strict()

/**
 * A credential from the environment: `reveal()` where it is used; printed, logged or serialized it is `[redacted]`,
 * so a config that reaches a log line or an error report carries no key.
 */
export class Secret {
  readonly #value: string

  constructor (value: string) {
    this.#value = value
  }

  reveal (): string {
    return this.#value
  }

  toString (): string {
    return '[redacted]'
  }

  toJSON (): string {
    return '[redacted]'
  }

  [inspect.custom] (): string {
    return 'Secret([redacted])'
  }
}

/** Billing through Stripe (src/application/billing/): set when STRIPE_SECRET_KEY is. */
export interface StripeConfig {
  readonly secretKey: Secret
  /** The price a plan subscribes to; the free plan has none (no subscription). */
  readonly prices: { readonly pro: string, readonly enterprise: string }
  /** STRIPE_API_BASE, for tests: where the SDK sends its requests instead of api.stripe.com. */
  readonly apiBase: { readonly protocol: 'http' | 'https', readonly host: string, readonly port: number } | undefined
}

export interface Config {
  readonly env: 'development' | 'production' | 'test'
  readonly host: string
  readonly port: number
  readonly databaseUrl: string | undefined
  readonly databasePoolSize: number
  readonly dataDir: string
  readonly kurrentDbUrl: string | undefined
  readonly logLevel: string
  readonly projectionBatchSize: number
  readonly readyMaxLagSeconds: number
  readonly shutdownTimeoutMs: number
  /** Lifetime of a session token from password login. */
  readonly sessionTtlMs: number
  /** How long an invitation can be accepted. */
  readonly invitationTtlMs: number
  /** How long a read with X-Consistent-With waits for the read models. */
  readonly consistencyTimeoutMs: number
  /** Login and sign-up attempts per minute, per client address and per e-mail address. */
  readonly loginRateLimitPerMinute: number
  /**
   * Which X-Forwarded-For hops to believe for the client address (rate limits,
   * audit): false (none, the default), a number of hops, or addresses/CIDRs.
   */
  readonly trustProxy: boolean | number | string[]
  /** Projections and the principal directory read the live log at most once per this many ms. */
  readonly liveReadIntervalMs: number
  /** The host application's own actions (from PERMISSIONS_FILE), added to the permission catalogue. */
  readonly hostActions: readonly HostAction[]
  /**
   * Signs the audit log's daily digests (Ed25519). Unset: generated and kept
   * under the data directory in development, one per process in tests,
   * refused in production (src/application/audit/signing-key.ts).
   */
  readonly auditSigningKey: KeyObject | undefined
  /**
   * Who may read /metrics (src/ops/lib/metrics-access.ts): a bearer token, and/or
   * a listener of its own (`port`, on `host`) instead of the API's. Production
   * refuses to start with neither.
   */
  readonly metrics: { readonly token: string | undefined, readonly port: number | undefined, readonly host: string }
  /** How long a client may take (src/http/app.ts): a slow or stalled client cannot hold a connection. */
  readonly httpTimeouts: {
    /** The whole request, headers and body, must arrive within this (408 and closed after). */
    readonly requestMs: number
    /** The request's headers must arrive within this. */
    readonly headersMs: number
    /** An idle keep-alive connection is closed after this. */
    readonly keepAliveMs: number
    /** A connection on which nothing is read or written for this long is closed; 0 never. */
    readonly connectionMs: number
  }
  /** The jobs runner of this node (src/application/jobs/runner.ts); it runs where projections run. */
  readonly jobs: {
    /** JOB_LEASE_SECONDS: how long a node that stopped renewing keeps a job before another may take it. */
    readonly leaseSeconds: number
    /** Handlers running at once on this node. */
    readonly concurrency: number
    /** Jobs claimed per query (default: the concurrency). */
    readonly claimBatch: number | undefined
    /** Claimed jobs waiting on the node for a free slot, at most (default: the claim batch; 0: claim only for free slots). */
    readonly prefetch: number | undefined
    /** The polling backstop behind LISTEN/NOTIFY. */
    readonly pollIntervalMs: number
    /** At shutdown, how long running handlers may take to finish before their attempts are released. */
    readonly shutdownGraceMs: number
  }
  /** Stripe, for the billing tools and plan changes; undefined: billing is not configured (plan changes record the plan alone). */
  readonly stripe: StripeConfig | undefined
  /** Inbound webhooks (src/application/webhooks/inbound/, docs/webhooks-in.md). */
  readonly webhooksIn: {
    /** STRIPE_WEBHOOK_SECRET: Stripe's endpoint signing secrets, several during a rotation; none: the Stripe route answers 503. */
    readonly stripeSecrets: readonly Secret[]
    /** The prices Stripe's subscription events map to plans (STRIPE_PRICE_PRO, STRIPE_PRICE_ENTERPRISE), with or without a key. */
    readonly stripePrices: { readonly pro: string | undefined, readonly enterprise: string | undefined }
    /** WEBHOOK_INBOUND_RATE_PER_SECOND: messages a second per source on each node, bursts of twice that. */
    readonly ratePerSecond: number
  }
  /**
   * PUBLIC_URL: the origin clients reach this server at (behind a proxy, the
   * proxy's) when it is not HOST: the MCP server answers to its host name and
   * names its resource with it (src/http/mcp/origin.ts).
   */
  readonly publicUrl: string | undefined
  /** MCP_ALLOWED_ORIGINS: browser origins allowed to call the MCP server besides PUBLIC_URL's and the server's own. */
  readonly mcpAllowedOrigins: readonly string[]
  /** Webhooks in and out (src/application/webhooks/). */
  readonly webhooks: {
    /** WEBHOOK_SECRETS_KEY: encrypts stored webhook secrets (AES-256-GCM); unset, they are stored in plain text (production refuses it). */
    readonly secretsKey: Secret | undefined
    /** WEBHOOK_ALLOW_PRIVATE_TARGETS: deliveries may reach loopback and private addresses (tests only; production refuses it). */
    readonly allowPrivateTargets: boolean
    /** WEBHOOK_DISABLE_AFTER_MS: an outbound endpoint failing for this long (since its last success) is disabled, then probed. */
    readonly disableAfterMs: number
  }
  /** The assistant (src/application/assistant/, docs/assistant.md). */
  readonly ai: AiConfig
}

export interface AiConfig {
  /** OPENAI_API_KEY: unset, the assistant's routes that need the model answer 503 `ai.not_configured`. */
  readonly apiKey: Secret | undefined
  /** OPENAI_BASE_URL: any OpenAI-compatible server; unset, OpenAI's. */
  readonly baseUrl: string | undefined
  /** AI_MODEL: the Chat Completions model new conversations use. */
  readonly model: string
  /** AI_MAX_STEPS: model requests per response (each tool round is one more). */
  readonly maxSteps: number
  /** AI_HEARTBEAT_MS: an SSE comment this often, so proxies keep an idle stream open. */
  readonly heartbeatMs: number
  /** AI_CHUNK_INTERVAL_MS: streamed parts are stored as one chunk event at most this often. */
  readonly chunkIntervalMs: number
  /** AI_UPSTREAM_IDLE_TIMEOUT_MS: an upstream silent this long is given up (the response is aborted and charged). */
  readonly upstreamIdleTimeoutMs: number
  /**
   * AI_ABANDONED_AFTER_MS: a streaming response whose conversation has been silent this long is taken for abandoned (its
   * node died): the next ask, stop or resume records it aborted (`abandoned`) and charges its estimate.
   */
  readonly abandonedAfterMs: number
  /** The default price table with AI_PRICES (JSON: model → micro-USD per million tokens) over it. */
  readonly prices: PriceTable
  /** AI_MAX_OUTPUT_TOKENS: the output cap (`max_tokens`) every model request is sent with; a reservation holds its price. */
  readonly maxOutputTokens: number
  /** Monthly budgets (docs/ai-budgets.md). */
  readonly budgets: AiBudgetConfig
}

export interface AiBudgetConfig {
  /** AI_BUDGET_<PLAN>_MICROS: each plan's monthly budget in micro-USD, and the most an organization of it may set. */
  readonly plans: Readonly<Record<'free' | 'pro' | 'enterprise', number>>
  /**
   * AI_BUDGET_RESERVATION_TTL_MS: a reservation not settled this long (its node died) is reconciled from the usage
   * events; longer than any response runs.
   */
  readonly reservationTtlMs: number
}

export class ConfigError extends Error {
  readonly code = 'config.invalid'
}

export function loadConfig (env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`)
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
  }
  const e = parsed.data
  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    dataDir: e.LEDGERLINE_DATA_DIR,
    kurrentDbUrl: e.KURRENTDB_URL,
    logLevel: e.LOG_LEVEL,
    projectionBatchSize: e.PROJECTION_BATCH_SIZE,
    readyMaxLagSeconds: e.READY_MAX_LAG_SECONDS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    sessionTtlMs: e.SESSION_TTL_HOURS * 3_600_000,
    invitationTtlMs: e.INVITATION_TTL_HOURS * 3_600_000,
    consistencyTimeoutMs: e.CONSISTENCY_TIMEOUT_MS,
    loginRateLimitPerMinute: e.LOGIN_RATE_LIMIT_PER_MINUTE,
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    liveReadIntervalMs: e.LIVE_READ_INTERVAL_MS,
    hostActions: e.PERMISSIONS_FILE === '' ? [] : readPermissionsFile(e.PERMISSIONS_FILE),
    auditSigningKey: e.AUDIT_SIGNING_KEY,
    metrics: { token: e.METRICS_TOKEN === '' ? undefined : e.METRICS_TOKEN, port: e.METRICS_PORT, host: e.METRICS_HOST },
    httpTimeouts: {
      requestMs: e.HTTP_REQUEST_TIMEOUT_MS,
      headersMs: e.HTTP_HEADERS_TIMEOUT_MS,
      keepAliveMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      connectionMs: e.HTTP_CONNECTION_TIMEOUT_MS
    },
    jobs: {
      leaseSeconds: e.JOB_LEASE_SECONDS,
      concurrency: e.JOB_CONCURRENCY,
      claimBatch: e.JOB_CLAIM_BATCH,
      prefetch: e.JOB_PREFETCH,
      pollIntervalMs: e.JOB_POLL_INTERVAL_MS,
      shutdownGraceMs: e.JOB_SHUTDOWN_GRACE_MS
    },
    stripe: e.STRIPE_SECRET_KEY === undefined ? undefined : {
      secretKey: new Secret(e.STRIPE_SECRET_KEY),
      prices: { pro: e.STRIPE_PRICE_PRO!, enterprise: e.STRIPE_PRICE_ENTERPRISE! },
      apiBase: e.STRIPE_API_BASE === undefined ? undefined : apiBaseOf(e.STRIPE_API_BASE)
    },
    publicUrl: e.PUBLIC_URL === '' ? undefined : originOf(e.PUBLIC_URL),
    mcpAllowedOrigins: listOf(e.MCP_ALLOWED_ORIGINS).map((origin) => originOf(origin)!),
    webhooksIn: {
      stripeSecrets: listOf(e.STRIPE_WEBHOOK_SECRET).map((secret) => new Secret(secret)),
      stripePrices: { pro: e.STRIPE_PRICE_PRO, enterprise: e.STRIPE_PRICE_ENTERPRISE },
      ratePerSecond: e.WEBHOOK_INBOUND_RATE_PER_SECOND
    },
    webhooks: {
      secretsKey: e.WEBHOOK_SECRETS_KEY === '' ? undefined : new Secret(e.WEBHOOK_SECRETS_KEY),
      allowPrivateTargets: e.WEBHOOK_ALLOW_PRIVATE_TARGETS === 'true',
      disableAfterMs: e.WEBHOOK_DISABLE_AFTER_MS
    },
    ai: {
      apiKey: e.OPENAI_API_KEY === undefined ? undefined : new Secret(e.OPENAI_API_KEY),
      baseUrl: e.OPENAI_BASE_URL,
      model: e.AI_MODEL,
      maxSteps: e.AI_MAX_STEPS,
      heartbeatMs: e.AI_HEARTBEAT_MS,
      chunkIntervalMs: e.AI_CHUNK_INTERVAL_MS,
      upstreamIdleTimeoutMs: e.AI_UPSTREAM_IDLE_TIMEOUT_MS,
      abandonedAfterMs: e.AI_ABANDONED_AFTER_MS,
      prices: parsePrices(e.AI_PRICES),
      maxOutputTokens: e.AI_MAX_OUTPUT_TOKENS,
      budgets: {
        plans: { free: e.AI_BUDGET_FREE_MICROS, pro: e.AI_BUDGET_PRO_MICROS, enterprise: e.AI_BUDGET_ENTERPRISE_MICROS },
        reservationTtlMs: e.AI_BUDGET_RESERVATION_TTL_MS
      }
    }
  }
}

function apiBaseOf (url: string): NonNullable<StripeConfig['apiBase']> {
  const parsed = new URL(url)
  const protocol = parsed.protocol === 'http:' ? 'http' : 'https'
  return { protocol, host: parsed.hostname, port: parsed.port === '' ? (protocol === 'http' ? 80 : 443) : Number(parsed.port) }
}

function readPermissionsFile (path: string): HostAction[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new ConfigError(`invalid configuration:\n  PERMISSIONS_FILE: cannot read ${path}: ${(error as Error).message}`)
  }
  let document: unknown
  try {
    document = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text)
  } catch (error) {
    throw new ConfigError(`invalid configuration:\n  PERMISSIONS_FILE: ${path} is not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'}: ` +
      `${(error as Error).message}`)
  }
  const parsed = PermissionsFile.safeParse(document)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  PERMISSIONS_FILE ${path}: ${issue.path.join('.')}: ${issue.message}`)
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
  }
  return parsed.data.actions
}

function parseTrustProxy (value: string): boolean | number | string[] {
  if (value === '' || value === 'false') return false
  if (value === 'true') return true
  if (/^\d+$/.test(value)) return Number(value)
  return value.split(',').map((part) => part.trim()).filter((part) => part !== '')
}

/** Where the data lives, for logs and CLI output; never prints credentials. */
export function describeStorage (config: Config): string {
  const events = config.kurrentDbUrl === undefined ? 'PostgreSQL event store' : 'KurrentDB event store'
  if (config.databaseUrl === undefined) return `${events}, embedded PostgreSQL (PGlite) at ${config.dataDir}`
  const url = new URL(config.databaseUrl)
  return `${events}, PostgreSQL at ${url.hostname}:${url.port || 5432}${url.pathname}`
}
