/**
 * First start on an empty store. In development: a demo organization, its
 * owner (a platform admin, for trying every route) and an API token, printed
 * once with the docs URL. In production: nothing is created; the operator is
 * told the `ledgerline bootstrap` command to run.
 */
import { uuidV5, systemCommand } from '../../domain/envelope.ts'
import { EmailTaken } from '../../domain/identity/errors.ts'
import { comparePositions } from '../../eventstore/position.ts'
import { START } from '../../eventstore/types.ts'
import type { Runtime } from '../../runtime.ts'
import { bootstrap } from './commands.ts'

export const DEMO = { email: 'owner@demo.example', orgName: 'Demo Agency', displayName: 'Demo Owner' }

export interface FirstRunOutput {
  /** Lines to show the operator (stdout): printed once. */
  readonly lines: string[]
  readonly created: boolean
}

/** Rules above and below, so the lines stand out from the JSON log lines around them. */
function banner (title: string, lines: readonly string[]): string[] {
  const rule = '='.repeat(72)
  return [rule, `  Ledgerline: ${title}`, rule, ...lines, rule]
}

export async function firstRun (runtime: Runtime, baseUrl: string): Promise<FirstRunOutput> {
  const empty = comparePositions(await runtime.store.headPosition(), START) === 0
  if (!empty || runtime.config.env === 'test') return { lines: [], created: false }
  if (runtime.config.env === 'production') {
    return {
      created: false,
      lines: banner('first start in production', [
        'The event store is empty and nothing was created (NODE_ENV=production).',
        'Create the first owner, their organization and an API token with:',
        '  ledgerline bootstrap --email <owner e-mail> --org "<organization name>"'
      ])
    }
  }
  // A fixed command id: two instances starting together on one empty database create one demo, not two.
  const metadata = { ...systemCommand('first-run'), commandId: uuidV5('ledgerline/demo-bootstrap') }
  try {
    const { token, orgId, userId } = await bootstrap(runtime.identity, metadata, { ...DEMO, platformAdmin: true })
    return {
      created: true,
      lines: banner('first start, a demo to try', [
        `Created a demo organization "${DEMO.orgName}" (${orgId}) owned by ${DEMO.email} (${userId}).`,
        'Its API token, shown this once:',
        `  ${token}`,
        `Try:  curl -H "Authorization: Bearer ${token}" ${baseUrl}/v1/session`,
        'Give the owner a password (to sign in with POST /v1/auth/login):',
        `  curl -X PUT -H "Authorization: Bearer ${token}" -H 'content-type: application/json' \\`,
        `    -d '{"newPassword":"<at least 10 characters>"}' ${baseUrl}/v1/me/password`,
        `API docs: ${baseUrl}/docs`
      ])
    }
  } catch (error) {
    if (error instanceof EmailTaken) return { lines: [], created: false }
    throw error
  }
}
