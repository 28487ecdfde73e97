import { pino, type Logger } from 'pino'
import type { Config } from './config.ts'

/** Paths never logged: credentials and tokens, wherever they appear. */
export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'req.headers["idempotency-key"]', 'res.headers["set-cookie"]',
  '*.password', '*.currentPassword', '*.newPassword', '*.passwordHash', '*.token', '*.secret', '*.apiKey', 'password', 'token', 'secret'
]

export function createLogger (config: Pick<Config, 'logLevel' | 'env'>): Logger {
  const pretty = process.stdout.isTTY === true && config.env !== 'production'
  return pino({
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } } : {})
  })
}
