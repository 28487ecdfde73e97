/**
 * What every CLI command shares: configuration from the environment, a logger
 * on stderr (stdout is for output scripts read), and a runtime that is always
 * closed, whatever the command does. Inside a server (src/cli/control.ts) the
 * runtime is the server's own and stays open.
 */
import { pino, type Logger } from 'pino'
import { loadConfig, type Config } from '../config.ts'
import { REDACT_PATHS } from '../logger.ts'
import { openRuntime, type Runtime, type RuntimeOptions } from '../runtime.ts'
import { io } from './io.ts'

export function cliLogger (config: Config): Logger {
  const level = config.logLevel === 'info' ? 'warn' : config.logLevel
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination(2))
}

export async function withRuntime<T> (fn: (runtime: Runtime) => Promise<T>, options: RuntimeOptions = {}): Promise<T> {
  const shared = io().runtime
  if (shared !== undefined) return await fn(shared)
  const config = loadConfig()
  // A command runs for a moment: jobs are the server's to run (a claimed one would be released when the command ends).
  const runtime = await openRuntime(config, cliLogger(config), { runJobs: false, ...options })
  try {
    return await fn(runtime)
  } finally {
    await runtime.close()
  }
}

/** JSON with bigints as strings and dates as ISO text. */
export function toJson (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}

export function print (line: string): void {
  io().stdout.write(`${line}\n`)
}
