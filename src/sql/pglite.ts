import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { DataDirInUse } from '../domain/errors.ts'
import type { Lease, QueryResult, SqlClient, SqlTransaction } from './client.ts'

/**
 * The embedded driver. PGlite is one PostgreSQL backend in WebAssembly: one
 * connection, one process. Queries and transactions queue behind each other;
 * keep transactions short. A lock file keeps a second process (a CLI beside a
 * running server) from opening the same data directory and corrupting it.
 */
export async function openPgliteClient (dataDir: string, loadDataDir?: Blob): Promise<SqlClient & { dump(): Promise<Blob> }> {
  const inMemory = dataDir.startsWith('memory://')
  const unlock = inMemory ? () => {} : lockDataDir(dataDir)
  let db: PGlite
  try {
    db = await PGlite.create(inMemory ? 'memory://' : dataDir, loadDataDir === undefined ? {} : { loadDataDir })
  } catch (error) {
    unlock()
    throw error
  }
  const heldLocks = new Set<bigint>()

  const run = async <Row>(executor: Pick<PGlite, 'query'>, text: string, params?: readonly unknown[]): Promise<QueryResult<Row>> => {
    const result = await executor.query<Row>(text, params as unknown[] | undefined)
    // PGlite reports affectedRows 0 for a SELECT; pg's rowCount counts the rows returned.
    return { rows: result.rows, rowCount: result.rows.length > 0 ? result.rows.length : (result.affectedRows ?? 0) }
  }

  return {
    kind: 'pglite',
    query: (text, params) => run(db, text, params),
    transaction: (fn) => db.transaction((tx) => fn({
      query: (text, params) => run(tx, text, params),
      exec: async (text) => { await tx.exec(text) }
    } satisfies SqlTransaction)),
    async exec (text) {
      await db.exec(text)
    },
    async listen (channel, onNotify) {
      const stop = await db.listen(channel, onNotify)
      return async () => { await stop() }
    },
    // One process owns the data directory, so an in-process set is the whole truth.
    async tryLock (key) {
      if (heldLocks.has(key)) return null
      heldLocks.add(key)
      let held = true
      const lease: Lease = {
        get held () { return held },
        async release () {
          held = false
          heldLocks.delete(key)
        }
      }
      return lease
    },
    dump: async () => await db.dumpDataDir('none'),
    async close () {
      if (db.closed) return
      try {
        await db.close()
      } finally {
        unlock()
      }
    }
  }
}

function lockDataDir (dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true })
  const file = join(dataDir, '.ledgerline.lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' })
      const release = (): void => { rmSync(file, { force: true }) }
      process.once('exit', release)
      return () => {
        process.off('exit', release)
        release()
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const owner = Number(readFileSync(file, 'utf8'))
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) throw new DataDirInUse(dataDir, owner)
      rmSync(file, { force: true }) // left by a process that died
    }
  }
  throw new Error(`could not lock ${dataDir}`)
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
