import type { LogPosition } from './types.ts'

export function comparePositions (a: LogPosition, b: LogPosition): number {
  if (a.major !== b.major) return a.major < b.major ? -1 : 1
  if (a.minor !== b.minor) return a.minor < b.minor ? -1 : 1
  return 0
}

export function maxPosition (a: LogPosition, b: LogPosition): LogPosition {
  return comparePositions(a, b) >= 0 ? a : b
}

/** `major.minor`: the form positions take in HTTP headers, CLI flags and NDJSON. */
export function formatPosition (position: LogPosition): string {
  return `${position.major}.${position.minor}`
}

const POSITION = /^(\d{1,20})\.(\d{1,20})$/

/** Parses `major.minor`; returns undefined for anything else. */
export function parsePosition (text: string): LogPosition | undefined {
  const match = POSITION.exec(text.trim())
  if (match === null) return undefined
  return { major: BigInt(match[1]!), minor: BigInt(match[2]!) }
}
