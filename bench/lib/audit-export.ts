/**
 * The process bench:audit runs an export in, so that its peak RSS is the
 * export's alone (not the generator's): `node --import tsx
 * bench/lib/audit-export.ts <ours|raw> <database url> <org ids, comma-separated>`.
 *
 * Exports every organization in turn as CSV to /dev/null (waiting for the
 * stream to drain, as a response socket would make it), then prints one JSON
 * line: rows, bytes, seconds, the RSS before the first export and the peak
 * RSS (`process.resourceUsage().maxRSS`) in MB.
 *
 * - `ours`: exportAudit (src/application/audit/export.ts) through our SQL client.
 * - `raw`: the raw limit of the same work: the same keyset query on the same
 *   index in chunks of as many rows through `pg` as arrays, each cell written
 *   as CSV (quoted when needed) with nothing else done.
 */
import { createWriteStream, type WriteStream } from 'node:fs'
import pg from 'pg'
import { exportAudit } from '../../src/application/audit/export.ts'
import { openSqlClient } from '../../src/sql/client.ts'

const CHUNK = 1000
const MB = 1024 * 1024

async function write (out: WriteStream, text: string): Promise<void> {
  if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
}

async function ours (url: string, orgIds: readonly string[], out: WriteStream): Promise<number> {
  const sql = await openSqlClient({ databaseUrl: url, poolSize: 2 })
  let rows = 0
  try {
    for (const orgId of orgIds) {
      for await (const text of exportAudit(sql, orgId, {}, 'csv', (n) => { rows += n })) await write(out, text)
    }
  } finally {
    await sql.close()
  }
  return rows
}

const COLUMNS = `id, org_id, seq, occurred_at, action, actor_type, actor_id, actor_label, impersonator_id, target_type, target_id,
  diff, ip, user_agent, trace_id, request_id, position, prev_hash, hash`

function cell (value: unknown): string {
  if (value === null) return ''
  const text = value instanceof Date ? value.toISOString() : typeof value === 'string' ? value : JSON.stringify(value)
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

async function raw (url: string, orgIds: readonly string[], out: WriteStream): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  let rows = 0
  try {
    for (const orgId of orgIds) {
      await write(out, 'id,orgId,seq,occurredAt,action,actorType,actorId,actorLabel,impersonatorId,targetType,targetId,diff,' +
        'ip,userAgent,traceId,requestId,position,prevHash,hash\r\n')
      let after = '0'
      for (;;) {
        const result = await client.query<unknown[]>({
          text: `SELECT ${COLUMNS} FROM audit_events WHERE coalesce(org_id, '') = $1 AND seq > $2 ORDER BY seq asc LIMIT $3`,
          values: [orgId, after, CHUNK],
          rowMode: 'array'
        })
        let text = ''
        for (const row of result.rows) text += row.map(cell).join(',') + '\r\n'
        await write(out, text)
        rows += result.rows.length
        if (result.rows.length < CHUNK) break
        after = String(result.rows.at(-1)![2])
      }
    }
  } finally {
    await client.end()
  }
  return rows
}

const [mode, url, orgList] = process.argv.slice(2)
if ((mode !== 'ours' && mode !== 'raw') || url === undefined || orgList === undefined) {
  throw new Error('usage: audit-export.ts <ours|raw> <database url> <org ids>')
}
const out = createWriteStream('/dev/null')
out.on('error', () => {}) // /dev/null
const rssBefore = process.memoryUsage().rss / MB
const started = performance.now()
const rows = await (mode === 'ours' ? ours : raw)(url, orgList.split(','), out)
const seconds = (performance.now() - started) / 1000
await new Promise<void>((resolve) => out.end(() => resolve()))
console.log(JSON.stringify({
  rows, bytes: out.bytesWritten, seconds, rssBeforeMB: rssBefore, maxRssMB: process.resourceUsage().maxRSS / 1024
}))
