import { pino, type DestinationStream, type Logger } from 'pino'
import type { Config } from './config.ts'

/** Paths never logged: credentials and tokens, wherever they appear. */
export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'req.headers["idempotency-key"]',
  'res.headers["set-cookie"]',
  '*.password', '*.currentPassword', '*.newPassword', '*.passwordHash', '*.token', '*.secret', '*.apiKey', 'password', 'token', 'secret'
]

/** A request URL as logged: an invitation token in the path (`/v1/invitations/<token>/accept`) is a secret too. */
export function redactUrl (url: string): string {
  return url.replace(/^\/v1\/invitations\/[^/?#]+/, '/v1/invitations/[redacted]')
}

interface LoggedRequest { method: string, url: string, host?: string, ip?: string, socket?: { remotePort?: number } }

/** Fastify's request serializer, with the URL redacted (Fastify takes a logger's own serializers over its defaults). */
export const serializers = {
  req: (req: LoggedRequest) =>
    ({ method: req.method, url: redactUrl(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort })
}

export function createLogger (config: Pick<Config, 'logLevel' | 'env'>, destination?: DestinationStream): Logger {
  const pretty = destination === undefined && process.stdout.isTTY === true && config.env !== 'production'
  return pino({
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers,
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } } : {})
  }, destination)
}
