import type { Command } from 'commander'
import { bootstrap } from '../../application/identity/commands.ts'
import { systemCommand } from '../../domain/envelope.ts'
import { print, toJson, withRuntime } from '../context.ts'

interface Options { email: string, org: string, name?: string, platformAdmin: boolean, json?: boolean }

export function bootstrapCommand (program: Command): void {
  program.command('bootstrap')
    .description('create a user, an organization they own and an API token for them (the first owner of a new installation)')
    .requiredOption('--email <email>', 'the owner\'s e-mail address')
    .requiredOption('--org <name>', 'the organization\'s name')
    .option('--name <displayName>', 'the owner\'s display name (default: the part of the address before @)')
    .option('--no-platform-admin', 'do not make the owner a platform administrator')
    .option('--json', 'print {"token", "orgId", "userId"} for scripts')
    .action(async (options: Options) => {
      await withRuntime(async (runtime) => {
        const result = await bootstrap(runtime.identity, systemCommand('cli:bootstrap'), {
          email: options.email,
          orgName: options.org,
          platformAdmin: options.platformAdmin,
          ...(options.name === undefined ? {} : { displayName: options.name })
        })
        if (options.json === true) {
          print(toJson({ token: result.token, orgId: result.orgId, userId: result.userId }))
          return
        }
        print(`Created user ${result.userId} (${options.email}) owning organization ${result.orgId} (${options.org}).`)
        print('API token, shown this once:')
        print(`  ${result.token}`)
      })
    })
}
