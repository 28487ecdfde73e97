import type { Command } from 'commander'
import { migrateDatabase } from '../../application/database.ts'
import { loadConfig } from '../../config.ts'
import { print, toJson } from '../context.ts'

export function migrateCommand (program: Command): void {
  program.command('migrate')
    .description('apply pending database migrations (the server also applies them at start-up)')
    .option('--json', 'print {"applied": [...]} for scripts')
    .action(async (options: { json?: boolean }) => {
      const applied = await migrateDatabase(loadConfig())
      if (options.json === true) print(toJson({ applied }))
      else print(applied.length === 0 ? 'database is up to date' : `applied ${applied.join(', ')}`)
    })
}
