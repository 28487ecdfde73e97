import type { Command } from 'commander'
import { loadConfig } from '../../config.ts'
import { openSqlClient } from '../../sql/client.ts'
import { migrate } from '../../sql/migrate.ts'
import { print, toJson } from '../context.ts'

export function migrateCommand (program: Command): void {
  program.command('migrate')
    .description('apply pending database migrations (the server also applies them at start-up)')
    .option('--json', 'print {"applied": [...]} for scripts')
    .action(async (options: { json?: boolean }) => {
      const config = loadConfig()
      const sql = await openSqlClient({ databaseUrl: config.databaseUrl, dataDir: config.dataDir })
      try {
        const applied = await migrate(sql)
        if (options.json === true) print(toJson({ applied }))
        else print(applied.length === 0 ? 'database is up to date' : `applied ${applied.join(', ')}`)
      } finally {
        await sql.close()
      }
    })
}
