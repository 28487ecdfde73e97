/**
 * CSV for audit exports (RFC 4180: comma-separated, CRLF line ends, fields
 * quoted when they hold a comma, quote or line break, quotes doubled).
 *
 * A cell a spreadsheet would run as a formula — one that starts with `=`,
 * `+`, `-`, `@`, a tab or a carriage return — is neutralized with a leading
 * apostrophe (the OWASP advice for CSV injection). Numbers are written as
 * numbers, so a negative one is not mistaken for a formula.
 */
/** `=`, `+`, `-`, `@`, tab, carriage return: what a spreadsheet reads as the start of a formula. */
const FORMULA_START = new Set([0x3d, 0x2b, 0x2d, 0x40, 0x09, 0x0d])
const NEEDS_QUOTES = /[",\r\n]/

export function csvCell (value: unknown): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value)
  let text = value instanceof Date ? value.toISOString() : typeof value === 'string' ? value : JSON.stringify(value)
  if (FORMULA_START.has(text.charCodeAt(0))) text = `'${text}`
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

export function csvLine (values: readonly unknown[]): string {
  let line = ''
  for (let i = 0; i < values.length; i++) line += (i === 0 ? '' : ',') + csvCell(values[i])
  return line + '\r\n'
}
