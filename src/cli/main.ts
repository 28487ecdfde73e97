/**
 * `ledgerline`: each command is a thin file that calls the same application
 * functions as the HTTP API.
 */
import { Command, CommanderError } from 'commander'
import { ConfigError } from '../config.ts'
import { LedgerlineError } from '../domain/errors.ts'
import { aiCommand } from './commands/ai.ts'
import { auditCommand } from './commands/audit.ts'
import { bootstrapCommand } from './commands/bootstrap.ts'
import { drillCommand } from './commands/drill.ts'
import { eventsCommand } from './commands/events.ts'
import { impersonationCommand } from './commands/impersonation.ts'
import { jobsCommand } from './commands/jobs.ts'
import { membersCommand } from './commands/members.ts'
import { migrateCommand } from './commands/migrate.ts'
import { preflightCommand } from './commands/preflight.ts'
import { rbacCommand } from './commands/rbac.ts'
import { replayCommand } from './commands/replay.ts'
import { webhooksCommand } from './commands/webhooks.ts'
import { webhooksReplayCommand } from './commands/webhooks-replay.ts'
import { io } from './io.ts'

export function buildProgram (): Command {
  const program = new Command('ledgerline')
    .description('Ledgerline governance backend: operations on the event log and read models')
    .showHelpAfterError()
    // Throw instead of exiting, so a command's resources (the runtime) are always closed first.
    .exitOverride()
    .configureOutput({ writeOut: (text) => io().stdout.write(text), writeErr: (text) => io().stderr.write(text) })
  migrateCommand(program)
  bootstrapCommand(program)
  replayCommand(program)
  eventsCommand(program)
  rbacCommand(program)
  auditCommand(program)
  impersonationCommand(program)
  membersCommand(program)
  jobsCommand(program)
  aiCommand(program)
  // The webhooks group: the outbound commands, and the replay of inbound messages.
  webhooksReplayCommand(webhooksCommand(program))
  preflightCommand(program)
  drillCommand(program)
  for (const command of program.commands) command.exitOverride()
  for (const command of program.commands.flatMap((c) => c.commands)) command.exitOverride()
  return program
}

/** Runs one command line; its output and exit code go to the current io (src/cli/io.ts). */
export async function run (argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv)
  } catch (error) {
    if (error instanceof CommanderError) {
      io().exitCode = error.exitCode
      return
    }
    const known = error instanceof ConfigError || error instanceof LedgerlineError
    io().stderr.write(`ledgerline: ${known ? (error as Error).message : ((error as Error).stack ?? String(error))}\n`)
    io().exitCode = 1
  }
}
