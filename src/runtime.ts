/**
 * Composition of the storage side: SQL client, migrations, event store and
 * projections. The HTTP server and the CLI both start from here, so they run
 * the same code against the same configuration.
 */
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import { pricingOf } from './application/assistant/accounting.ts'
import { Assistant } from './application/assistant/assistant.ts'
import { AssistantMetrics } from './application/assistant/metrics.ts'
import type { PriceTable } from './application/assistant/pricing.ts'
import { aiQuotaSources } from './application/assistant/quota-settings.ts'
import { AiQuotas } from './application/assistant/quotas.ts'
import { budgetSources, type BudgetDeps } from './application/assistant/budget-settings.ts'
import { AiBudgets } from './application/assistant/budgets.ts'
import { BurnMetrics } from './application/assistant/burn-metrics.ts'
import { evaluateBurn } from './application/assistant/burn-rates.ts'
import { costMicros } from './application/assistant/pricing.ts'
import { Periodic } from './application/periodic.ts'
import { upstreamClient } from './application/assistant/upstream.ts'
import { stateCache } from './application/cache.ts'
import { AuditChainCheck } from './application/audit/chain-check.ts'
import { AuditDigester } from './application/audit/digests.ts'
import { AuditRetention } from './application/audit/retention.ts'
import { billingOf, type Billing } from './application/billing/stripe.ts'
import { IdentityDirectory } from './application/identity/directory.ts'
import type { ImpersonationServices } from './application/impersonation/commands.ts'
import { ImpersonationExpiry } from './application/impersonation/expiry.ts'
import { ImpersonationRecheck } from './application/impersonation/recheck.ts'
import { applicationJobHandlers } from './application/jobs/application-handlers.ts'
import type { JobHandler } from './application/jobs/handlers.ts'
import { Jobs } from './application/jobs/jobs.ts'
import { JobMetrics } from './application/jobs/metrics.ts'
import type { Reactor } from './application/reactors/reactor.ts'
import { ReactorRunner, type ReactorControl } from './application/reactors/runner.ts'
import { PolicySnapshots } from './application/rbac/policies.ts'
import { InboundProcessingScheduler } from './application/webhooks/inbound/reactor.ts'
import { applicationTools } from './application/tools/business/index.ts'
import { ToolMetrics } from './application/tools/metrics.ts'
import { ToolPipeline } from './application/tools/pipeline.ts'
import { ToolRegistry } from './application/tools/registry.ts'
import { outboundWebhooks, type OutboundWebhooks } from './application/webhooks/outbound/index.ts'
import { StreamQueue } from './application/commands.ts'
import type { IdentityServices } from './application/identity/commands.ts'
import type { Config } from './config.ts'
import { createRegistry } from './domain/events.ts'
import type { EventDefinition, EventRegistry } from './domain/registry.ts'
import { instrumentedStore } from './eventstore/instrumented.ts'
import { createPostgresEventStore } from './eventstore/postgres.ts'
import type { EventStore } from './eventstore/types.ts'
import { catalogueOf, type Catalogue } from './domain/rbac/permissions.ts'
import { Metrics } from './metrics.ts'
import { applicationProjections } from './projections/index.ts'
import type { Projection } from './projections/projection.ts'
import { ProjectionRunner } from './projections/runner.ts'
import { openSqlClient, type SqlClient } from './sql/client.ts'
import { migrate } from './sql/migrate.ts'

export interface Runtime {
  readonly config: Config
  readonly logger: Logger
  readonly sql: SqlClient
  readonly store: EventStore
  readonly registry: EventRegistry
  /** The permission catalogue: Ledgerline's actions and the host's (`config.hostActions`), built once when the runtime opens. */
  readonly catalogue: Catalogue
  readonly projections: readonly Projection[]
  readonly runner: ProjectionRunner
  /** The audit retention purge: hourly while projections run; `runOnce()` on demand. */
  readonly auditRetention: AuditRetention
  /** Signed daily audit digests: hourly while projections run; `runOnce()` on demand. */
  readonly auditDigests: AuditDigester
  /** The stored audit chains and digests checked every six hours while projections run; `runOnce()` on demand. */
  readonly auditChainCheck: AuditChainCheck
  /** What the identity application functions need: store, SQL, the principal directory. */
  readonly identity: IdentityServices
  /** The identity services plus what impersonation's guards wait for. */
  readonly impersonation: ImpersonationServices
  /** Writes the expiry of impersonation sessions whose time is up, every 15 s while projections run. */
  readonly impersonationExpiry: ImpersonationExpiry
  /** The reactors: checkpointed consumers of the log that do side effects and record them as events, while projections run. */
  readonly reactors: ReactorRunner
  /** The reactor that ends open sessions when a role, membership or user change takes away what allowed them. */
  readonly impersonationRecheck: ReactorControl
  /**
   * Durable jobs (src/application/jobs/): schedule from anywhere; this node runs them (claims, leases, retries) while
   * projections run, since the due queue is the `jobs` projection.
   */
  readonly jobs: Jobs
  /** The tools and the one pipeline every caller runs them through (src/application/tools/): HTTP, MCP, the assistant. */
  readonly tools: ToolPipeline
  /** The Stripe client billing calls (src/application/billing/), built once; undefined without STRIPE_SECRET_KEY. */
  readonly billing: Billing | undefined
  /** Outbound webhooks (src/application/webhooks/outbound/): the fan-out reactor, the delivery jobs, the endpoints' use cases. */
  readonly webhooks: OutboundWebhooks
  /** Prometheus metrics of this runtime; HTTP serves them at /metrics. */
  readonly metrics: Metrics
  /** The assistant (src/application/assistant/): conversations, the model loop, streams; answers ai.not_configured without a key. */
  readonly assistant: Assistant
  /** The assistant's price table (config.ai.prices, AI_PRICES) and quotas, admitted before any upstream call. */
  readonly assistantUsage: AssistantUsage
  close(): Promise<void>
}

export interface AssistantUsage {
  readonly prices: PriceTable
  readonly quotas: AiQuotas
  /** Monthly budgets: every model request reserves against its organization's month (docs/ai-budgets.md). */
  readonly budgets: AiBudgets
  /** The monthly budget settings routes' and the budgets' shared dependencies. */
  readonly budgetDeps: BudgetDeps
}

export interface RuntimeOptions {
  /** Start the projection runner now (the server does; most CLI commands do not). */
  readonly runProjections?: boolean
  readonly projections?: readonly Projection[]
  /** Reactors beyond the application's (tests). */
  readonly extraReactors?: readonly Reactor[]
  /**
   * Run this node's job runner (default: when projections run). CLI commands that run projections to read do not: a job
   * they claimed would get only the shutdown grace period, then be released, using up one of its attempts.
   */
  readonly runJobs?: boolean
  /** Job handlers beyond the application's (tests). */
  readonly extraJobHandlers?: readonly JobHandler[]
  /** Event types beyond the application's (tests). */
  readonly extraEvents?: readonly EventDefinition[]
  /** An SQL client the caller owns (tests); otherwise one is opened from the config. */
  readonly sql?: SqlClient
  /** The clock jobs and webhook deliveries decide by (tests move it: retry schedules, endpoints failing for days). */
  readonly now?: () => Date
}

/** How often expired AI budget reservations are looked for (their node died holding them). */
const BUDGET_RECONCILE_MS = 60_000

export async function openRuntime (config: Config, logger: Logger, options: RuntimeOptions = {}): Promise<Runtime> {
  // First: the catalogue decides what grants are valid and what the RBAC read model holds; a bad one opens nothing.
  const catalogue = catalogueOf(config.hostActions)
  const ownsSql = options.sql === undefined
  const sql = options.sql ?? await openSqlClient({
    databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize
  })
  try {
    const applied = await migrate(sql)
    if (applied.length > 0) logger.info({ migrations: applied }, 'applied migrations')
    const registry = createRegistry(options.extraEvents)
    const metrics = new Metrics()
    // Measured here, so every append is: HTTP, CLI and reactors alike.
    const store = instrumentedStore(await openEventStore(config, sql, registry), metrics)
    const projections = options.projections ?? applicationProjections(catalogue)
    const runner = new ProjectionRunner({
      sql,
      store,
      projections,
      logger: logger.child({ component: 'projections' }),
      batchSize: config.projectionBatchSize,
      liveIntervalMs: config.liveReadIntervalMs
    })
    metrics.observeProjections(runner)
    const states = stateCache()
    const policies = new PolicySnapshots(store, catalogue, states)
    const directory = new IdentityDirectory({
      store,
      sql,
      runner,
      policies,
      logger: logger.child({ component: 'directory' }),
      waitMs: config.consistencyTimeoutMs,
      liveIntervalMs: config.liveReadIntervalMs
    })
    const auditRetention = new AuditRetention({ sql, store, logger: logger.child({ component: 'audit-retention' }) })
    const auditDigests = new AuditDigester({ sql, store, runner, config, logger: logger.child({ component: 'audit-digests' }) })
    const auditChainCheck = new AuditChainCheck({ sql, config, metrics, logger: logger.child({ component: 'audit-chain-check' }) })
    const identity: IdentityServices = {
      store,
      sql,
      directory,
      sessionTtlMs: config.sessionTtlMs,
      queue: new StreamQueue(),
      states,
      policies,
      catalogue,
      waitForReadModels: async () => runner.waitFor(await store.committedHeadPosition(), config.consistencyTimeoutMs, ['identity'])
    }
    const impersonation: ImpersonationServices = { ...identity, runner, consistencyTimeoutMs: config.consistencyTimeoutMs }
    const impersonationExpiry = new ImpersonationExpiry(impersonation, logger.child({ component: 'impersonation-expiry' }))
    const recheck = new ImpersonationRecheck(impersonation, logger.child({ component: 'impersonation-recheck' }))
    const webhooks = outboundWebhooks({
      config,
      sql,
      services: identity,
      eventTypes: registry.types,
      registry: metrics.registry,
      logger: logger.child({ component: 'webhooks' }),
      // The fan-out schedules deliveries with the jobs engine made below, once the reactors run.
      jobs: () => jobs,
      readModelAt: (position) => runner.waitFor(position, config.consistencyTimeoutMs, ['webhooks_out']),
      ...(options.now === undefined ? {} : { now: options.now })
    })
    const reactors = new ReactorRunner({
      sql,
      store,
      // The inbound webhooks' safety net: it schedules the processing of stored messages, with the jobs engine made below.
      reactors: [recheck, webhooks.fanOut, new InboundProcessingScheduler(() => jobs), ...options.extraReactors ?? []],
      logger: logger.child({ component: 'reactors' }),
      batchSize: config.projectionBatchSize,
      liveIntervalMs: config.liveReadIntervalMs
    })
    metrics.observeReactors(reactors)
    const impersonationRecheck = reactors.control(recheck.name)
    const jobsLogger = logger.child({ component: 'jobs' })
    const jobs = new Jobs({
      sql,
      services: identity,
      logger: jobsLogger,
      concurrency: config.jobs.concurrency,
      claimBatch: config.jobs.claimBatch,
      ...(config.jobs.prefetch === undefined ? {} : { prefetch: config.jobs.prefetch }),
      leaseSeconds: config.jobs.leaseSeconds,
      pollIntervalMs: config.jobs.pollIntervalMs,
      ...(options.now === undefined ? {} : { now: options.now })
    })
    const jobDeps = { config, sql, store, metrics, logger: jobsLogger, identity, runner }
    for (const handler of [...applicationJobHandlers(jobDeps), ...webhooks.handlers, ...options.extraJobHandlers ?? []]) {
      jobs.registerJobHandler(handler)
    }
    jobs.observe(new JobMetrics(metrics.registry, sql, jobs.handlers.types))
    const billing = billingOf(config.stripe)
    const toolRegistry = new ToolRegistry(catalogue, applicationTools({ billing }))
    const tools = new ToolPipeline({
      services: { ...impersonation, invitationTtlMs: config.invitationTtlMs,
        waitForInvitations: async () => runner.waitFor(await store.committedHeadPosition(), config.consistencyTimeoutMs, ['invitations']) },
      registry: toolRegistry,
      observer: new ToolMetrics(metrics.registry, toolRegistry.list().map(({ tool }) => tool)),
      logger: logger.child({ component: 'tools' })
    })
    const budgetDeps: BudgetDeps = {
      services: identity, config: config.ai.budgets, budgets: () => assistantUsage.budgets,
      floorMicros: () => costMicros(assistantUsage.prices, config.ai.model,
        { inputTokens: 0, outputTokens: config.ai.maxOutputTokens, cachedInputTokens: 0 })
    }
    const assistantUsage: AssistantUsage = {
      prices: config.ai.prices, quotas: new AiQuotas(sql, aiQuotaSources(identity)),
      budgets: new AiBudgets(sql, budgetSources(budgetDeps), config.ai.budgets.reservationTtlMs), budgetDeps
    }
    const assistant = new Assistant({
      store, sql, queue: identity.queue, states, config: config.ai, client: upstreamClient(config.ai), tools,
      metrics: new AssistantMetrics(metrics.registry), logger: logger.child({ component: 'assistant' }),
      pricing: () => pricingOf(assistantUsage.prices),
      quotas: () => assistantUsage.quotas,
      budgets: () => assistantUsage.budgets,
      node: `${hostname()}:${process.pid}`,
      pollMs: Math.max(50, config.liveReadIntervalMs * 5)
    })
    new BurnMetrics(metrics.registry, {
      evaluate: (now) => evaluateBurn({ sql, plans: config.ai.budgets.plans }, now),
      onError: (error) => logger.error({ err: error }, 'could not evaluate the AI budgets\' burn rates')
    })
    const budgetReconciler = new Periodic(() => assistant.reconcileBudgets().catch((error: unknown) => {
      logger.error({ err: error }, 'could not reconcile expired AI budget reservations')
    }), BUDGET_RECONCILE_MS)
    if (options.runProjections === true) {
      // First: without a signing key in production it throws, before anything runs.
      auditDigests.start()
      runner.start()
      await directory.start()
      auditRetention.start()
      auditChainCheck.start()
      impersonationExpiry.start()
      budgetReconciler.start(BUDGET_RECONCILE_MS)
      reactors.start()
      if (options.runJobs !== false) await jobs.start()
    }
    return {
      config,
      logger,
      sql,
      store,
      registry,
      catalogue,
      projections,
      runner,
      auditRetention,
      auditDigests,
      auditChainCheck,
      identity,
      impersonation,
      impersonationExpiry,
      reactors,
      impersonationRecheck,
      jobs,
      tools,
      billing,
      webhooks,
      metrics,
      assistant,
      assistantUsage,
      async close () {
        await assistant.close()
        await budgetReconciler.stop()
        await jobs.stop({ graceMs: config.jobs.shutdownGraceMs })
        await reactors.stop()
        await impersonationExpiry.stop()
        await auditRetention.stop()
        await auditDigests.stop()
        await auditChainCheck.stop()
        directory.stop()
        await runner.stop()
        await store.close()
        if (ownsSql) await sql.close()
      }
    }
  } catch (error) {
    if (ownsSql) await sql.close().catch(() => {})
    throw error
  }
}

async function openEventStore (config: Config, sql: SqlClient, registry: EventRegistry): Promise<EventStore> {
  if (config.kurrentDbUrl === undefined) return createPostgresEventStore(sql, registry)
  const { createKurrentDbEventStore } = await import('./eventstore/kurrentdb.ts')
  return createKurrentDbEventStore({ connectionString: config.kurrentDbUrl, registry })
}
