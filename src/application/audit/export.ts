/**
 * Audit exports: every matching row of an organization's log, in log order,
 * as CSV, NDJSON or one JSON array, produced a chunk of rows at a time so
 * memory holds one chunk whatever the size of the log. The HTTP route and
 * `ledgerline audit export` both stream these chunks. The first piece comes
 * after the first read, so a caller that waits for it knows the read works
 * before it commits to an answer.
 *
 * Both start one through `recordExport`: the export is recorded in the log
 * (`audit.log.exported`) before a row is read, so an export whose trace
 * cannot be written fails instead of going unlogged.
 */
import type { CommandMetadata } from '../../domain/envelope.ts'
import type { LogPosition } from '../../eventstore/types.ts'
import type { Metrics } from '../../metrics.ts'
import { csvLine } from '../../projections/audit/csv.ts'
import { auditRows, type AuditFilters, type AuditRow } from '../../projections/audit/queries.ts'
import type { SqlExecutor } from '../../sql/client.ts'
import { recordAuditAccess, type AuditServices, type FilterValue } from './access.ts'

export type ExportFormat = 'csv' | 'ndjson' | 'json'

/** Rows per query and per piece of text: small enough that an export's memory stays flat, large enough that round trips do not dominate. */
const EXPORT_CHUNK = 500

export const EXPORT_COLUMNS: ReadonlyArray<keyof AuditRow> = [
  'id', 'orgId', 'seq', 'occurredAt', 'action', 'actorType', 'actorId', 'actorLabel', 'impersonatorId', 'targetType', 'targetId',
  'diff', 'ip', 'userAgent', 'traceId', 'requestId', 'position', 'prevHash', 'hash'
]

export const EXPORT_CONTENT_TYPES: Readonly<Record<ExportFormat, string>> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
  json: 'application/json; charset=utf-8'
}

type ExportMetrics = Pick<Metrics, 'auditExportStarted' | 'auditRowsExported'>

/** The export's text in pieces; `onRows` hears how many rows each piece held, and `metrics` counts the export and its rows as they go. */
export async function * exportAudit (
  sql: SqlExecutor, orgId: string, filters: AuditFilters, format: ExportFormat, onRows: (rows: number) => void = () => {},
  metrics?: ExportMetrics
): AsyncGenerator<string> {
  metrics?.auditExportStarted(format)
  // The opening (CSV's header line, JSON's bracket) goes with the first rows, or alone when there are none.
  let opening = format === 'csv' ? csvLine(EXPORT_COLUMNS) : format === 'json' ? '[' : ''
  let first = true
  for await (const chunk of auditRows(sql, orgId, filters, 'asc', EXPORT_CHUNK)) {
    let text = opening
    opening = ''
    for (const row of chunk) {
      if (format === 'csv') text += csvLine(EXPORT_COLUMNS.map((column) => row[column]))
      else if (format === 'ndjson') text += JSON.stringify(row) + '\n'
      else {
        text += (first ? '' : ',') + JSON.stringify(row)
        first = false
      }
    }
    yield text
    onRows(chunk.length)
    metrics?.auditRowsExported(format, chunk.length)
  }
  if (format === 'json') yield `${opening}]\n`
  else if (opening !== '') yield opening
}

/** What an export needs: the runtime qualifies. */
export interface ExportServices extends AuditServices {
  readonly sql: SqlExecutor
  readonly metrics?: ExportMetrics
}

export interface ExportRequest {
  readonly orgId: string
  readonly format: ExportFormat
  readonly filters: AuditFilters & Readonly<Record<string, FilterValue>>
}

/** An export whose record is in the log: where the record landed, and the rows, read only when asked for. */
export interface RecordedExport {
  readonly position: LogPosition
  /** The export's text in pieces (see exportAudit); `onRows` hears how many rows each piece held. */
  pieces (onRows?: (rows: number) => void): AsyncGenerator<string>
}

/** Records the export of `request` (`audit.log.exported`, by whoever `metadata` names), then hands its rows over. */
export async function recordExport (services: ExportServices, metadata: CommandMetadata, request: ExportRequest): Promise<RecordedExport> {
  const { orgId, format, filters } = request
  const position = await recordAuditAccess(services, metadata, { type: 'audit.log.exported', orgId, format, filters })
  return { position, pieces: (onRows) => exportAudit(services.sql, orgId, filters, format, onRows, services.metrics) }
}

/**
 * The last line of an NDJSON export that failed midway: no row has an
 * `error` member, so a reader knows the file is incomplete.
 */
export function exportErrorLine (traceId: string): string {
  return JSON.stringify({
    error: {
      status: 500,
      code: 'audit.export_incomplete',
      detail: 'the export stopped before its end: the rows above are not all the rows; the trace id identifies the cause in the logs',
      traceId
    }
  }) + '\n'
}

/** `audit-<org>-<UTC time>.<format>`: a file name that sorts by time and names no filter. */
export function exportFileName (orgId: string, format: ExportFormat, now: Date): string {
  return `audit-${orgId}-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.${format}`
}
