import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { DataDirInUse } from '../eventstore/errors.ts'
import type { Lease, QueryResult, SqlClient, SqlTransaction } from './types.ts'

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

/** Data directories this process has open (a lock file naming our own pid is stale otherwise: a container's pid 1 after a crash). */
const openHere = new Set<string>()

function lockDataDir (dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true })
  const dir = resolve(dataDir)
  const file = join(dir, '.ledgerline.lock')
  if (openHere.has(dir)) throw new DataDirInUse(dataDir, process.pid)
  for (let attempt = 0; attempt < 3; attempt++) {
    const token = `${process.pid} ${randomUUID()}`
    try {
      writeFileSync(file, token, { flag: 'wx' })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const owner = Number(readFileSync(file, 'utf8').split(' ')[0])
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) throw new DataDirInUse(dataDir, owner)
      rmSync(file, { force: true }) // left by a process that died
      continue
    }
    // Two processes taking over the same stale lock: only the one whose token stayed owns it.
    if (readFileSync(file, 'utf8') !== token) continue
    openHere.add(dir)
    const release = (): void => {
      openHere.delete(dir)
      if (existsSync(file) && readFileSync(file, 'utf8') === token) rmSync(file, { force: true })
    }
    process.once('exit', release)
    return () => {
      process.off('exit', release)
      release()
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
