/**
 * `ledgerline jobs` as on-call runs it: a process of its own, on a PGlite
 * data directory or a database of its own on the PostgreSQL server. It
 * brings the `jobs` read model up to date itself (no server runs), replays
 * a dead job, and exits; the job's stream shows the retry. One call per
 * database: a process takes seconds to start, and the commands' behaviour
 * is covered in test/jobs-cli.test.ts and test/jobs-cli-changes.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { jobStreamId } from '../src/domain/jobs/job.ts'
import { openRuntime } from '../src/runtime.ts'
import { openSqlClient } from '../src/sql/client.ts'
import { cli } from './helpers/cli.ts'
import { drivers, noteSkippedServer, openTestDatabase } from './helpers/databases.ts'
import { deadJob, logger } from './helpers/jobs-ops.ts'

t.test('ledgerline jobs replay in a process of its own', async (t) => {
  noteSkippedServer(t)
  for (const driver of drivers()) {
    await t.test(driver, async (t) => {
      let env: Record<string, string>
      if (driver === 'pglite') {
        const dir = mkdtempSync(join(tmpdir(), 'ledgerline-jobs-cli-'))
        t.teardown(() => rmSync(dir, { recursive: true, force: true }))
        env = { NODE_ENV: 'test', LEDGERLINE_DATA_DIR: dir }
      } else {
        const db = await openTestDatabase('postgres')
        t.teardown(db.dispose)
        env = { NODE_ENV: 'test', DATABASE_URL: db.url! }
      }
      // The job dies in a runtime that is closed before the CLI runs: PGlite lets one process open the directory.
      const sql = await openSqlClient({ databaseUrl: env.DATABASE_URL, dataDir: env.LEDGERLINE_DATA_DIR })
      const runtime = await openRuntime(loadConfig(env), logger, { sql })
      await deadJob(runtime, 'died', 'test.process', '2024-03-01T12:00:00.000Z')
      await runtime.close()
      await sql.close()

      const replay = await cli(['jobs', 'replay', '--type', 'test.process', '--from', '2024-03-01', '--to', '2024-03-02', '--json'], env)
      t.equal(replay.code, 0, replay.stderr)
      t.match(JSON.parse(replay.stdout), { retried: 1, jobs: [{ jobId: 'died', diedAt: '2024-03-01T12:00:00.000Z', outcome: 'retried' }] })

      const after = await openSqlClient({ databaseUrl: env.DATABASE_URL, dataDir: env.LEDGERLINE_DATA_DIR })
      const { rows } = await after.query<{ type: string, actor: string }>(
        "SELECT type, metadata->'actor'->>'id' AS actor FROM events WHERE stream_id = $1 ORDER BY stream_version", [jobStreamId('died')])
      await after.close()
      t.same(rows.at(-1), { type: 'job.retried', actor: 'cli:jobs' }, 'the retry is in the job\'s stream, by the CLI')
    })
  }
})
