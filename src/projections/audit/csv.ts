/**
 * CSV for audit exports (RFC 4180: comma-separated, CRLF line ends, fields
 * quoted when they hold a comma, quote or line break, quotes doubled).
 *
 * A cell a spreadsheet would run as a formula — one that starts with `=`,
 * `+`, `-`, `@`, a tab or a carriage return — is neutralized with a leading
 * apostrophe (the OWASP advice for CSV injection). Numbers are written as
 * numbers, so a negative one is not mistaken for a formula.
 */
const FORMULA = /^[=+\-@\t\r]/
const QUOTE = /[",\r\n]/

export function csvCell (value: unknown): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value)
  let text = value instanceof Date ? value.toISOString() : typeof value === 'string' ? value : JSON.stringify(value)
  if (FORMULA.test(text)) text = `'${text}`
  return QUOTE.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

export function csvLine (values: readonly unknown[]): string {
  return values.map(csvCell).join(',') + '\r\n'
}
