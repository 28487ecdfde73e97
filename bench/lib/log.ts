/** Progress lines of the benchmarks: on stderr, so stdout keeps the report alone. */
export function log (line: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`)
}
