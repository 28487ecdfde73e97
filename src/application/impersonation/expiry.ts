/**
 * Records the end of sessions whose time is up. A token stops working at its
 * expiry without this (the directory checks the time on every request); the
 * sweep writes the `expired` event the audit log and the session list show,
 * within `everyMs` of the expiry. Each node may run it: the expiry of a
 * session has one command id, so two nodes noticing it write one event.
 */
import type { Logger } from 'pino'
import { systemCommand } from '../../domain/envelope.ts'
import { dueSessions } from '../../projections/impersonation/queries.ts'
import { Periodic } from '../periodic.ts'
import { expireImpersonation, type ImpersonationServices } from './commands.ts'

export class ImpersonationExpiry {
  readonly #periodic: Periodic

  constructor (private readonly services: ImpersonationServices, private readonly logger: Logger, private readonly everyMs = 15_000) {
    this.#periodic = new Periodic(() => this.runOnce().catch((error: unknown) => {
      this.logger.error({ err: error }, 'impersonation expiry sweep failed; next run soon')
    }), everyMs)
  }

  start (): void {
    this.#periodic.start(this.everyMs)
  }

  async stop (): Promise<void> {
    await this.#periodic.stop()
  }

  /** Writes the expiry of every session due at `now`; answers their ids. */
  async runOnce (now = new Date()): Promise<string[]> {
    const expired: string[] = []
    for (const sessionId of await dueSessions(this.services.sql, now)) {
      // One session that cannot be written must not hold up the others.
      try {
        const { position } = await expireImpersonation(this.services, systemCommand('impersonation-expiry', now), sessionId)
        if (position !== null) expired.push(sessionId)
      } catch (error) {
        this.logger.error({ err: error, sessionId }, 'the expiry of an impersonation session could not be written; next sweep retries')
      }
    }
    if (expired.length > 0) this.logger.info({ sessions: expired }, 'impersonation sessions expired')
    return expired
  }
}
