/**
 * Benchmark settings: each from its `--flag`, else its environment variable,
 * else its default; numbers must be positive.
 */
import { parseArgs } from 'node:util'

export interface OptionSpec {
  readonly type?: 'string' | 'boolean'
  readonly env: string
  readonly fallback: string
}

export interface Options<K extends string> {
  get(key: K): string
  num(key: K): number
}

export function readOptions<K extends string> (specs: Readonly<Record<K, OptionSpec>>): Options<K> {
  const entries = Object.entries(specs) as Array<[K, OptionSpec]>
  const { values } = parseArgs({ options: Object.fromEntries(entries.map(([key, spec]) => [key, { type: spec.type ?? 'string' }])) })
  const get = (key: K): string => {
    const flag = values[key]
    if (flag !== undefined) return String(flag)
    return process.env[specs[key].env] ?? specs[key].fallback
  }
  const num = (key: K): number => {
    const value = Number(get(key))
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${key} / ${specs[key].env} must be a positive number`)
    return value
  }
  return { get, num }
}
