/**
 * Starts the server: configuration, storage, projections, HTTP. SIGTERM and
 * SIGINT drain in-flight requests, stop the projections and close the
 * databases; a drain that outlives SHUTDOWN_TIMEOUT_MS exits non-zero.
 */
import { ConfigError, describeStorage, loadConfig } from './config.ts'
import { LedgerlineError } from './domain/errors.ts'
import { firstRun } from './application/identity/first-run.ts'
import { purgeIdempotencyKeys } from './http/plugins/idempotency.ts'
import { buildApp } from './http/app.ts'
import { startMetricsListener } from './http/metrics-listener.ts'
import { serveCliCalls } from './cli/control.ts'
import { createLogger } from './logger.ts'
import { openRuntime } from './runtime.ts'

async function main (): Promise<void> {
  const config = loadConfig()
  const logger = createLogger(config)
  const runtime = await openRuntime(config, logger, { runProjections: true })
  const app = await buildApp(runtime)
  // On the embedded store only this process can open the data directory: the CLI calls in (src/cli/control.ts).
  const cliCalls = config.databaseUrl === undefined && !config.dataDir.startsWith('memory://')
    ? await serveCliCalls(runtime, config.dataDir, logger)
    : undefined
  const address = await app.listen({ host: config.host, port: config.port })
  logger.info({ address, storage: describeStorage(config) }, `Ledgerline listening on ${address}`)
  const metricsListener = await startMetricsListener(runtime)
  if (metricsListener !== undefined) logger.info({ address: metricsListener.address }, `metrics on ${metricsListener.address}/metrics`)
  const welcome = await firstRun(runtime, address.replace('://127.0.0.1:', '://localhost:'))
  if (welcome.lines.length > 0) process.stdout.write(`\n${welcome.lines.join('\n')}\n\n`)
  const sweep = setInterval(() => {
    purgeIdempotencyKeys(runtime.sql).catch((error: unknown) => logger.warn({ err: error }, 'idempotency purge failed'))
  }, 10 * 60_000)
  sweep.unref()

  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) return
    stopping = true
    clearInterval(sweep)
    logger.info({ signal }, 'shutting down: draining requests')
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out')
      process.exit(1)
    }, config.shutdownTimeoutMs)
    deadline.unref()
    Promise.all([app.close(), cliCalls?.close(), metricsListener?.app.close()])
      .then(() => runtime.close())
      .then(() => {
        logger.info('stopped')
        clearTimeout(deadline)
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed')
        process.exitCode = 1
      })
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof LedgerlineError) {
    process.stderr.write(`ledgerline: ${error.message}\n`)
  } else {
    process.stderr.write(`ledgerline: failed to start: ${(error as Error).stack ?? String(error)}\n`)
  }
  process.exit(1)
})
