/**
 * What a tool call's input looks like in the log: secrets redacted, size
 * bounded. The log is kept for ever and read by auditors, so a password, a
 * token or an API key given to a tool never reaches it:
 *
 * - values under a key that names a secret (`password`, `secret`, `token`,
 *   `apiKey`, `authorization`, `credential`, `privateKey`, `cookie`, and the
 *   tool's own `secrets`) become `[redacted]`, whatever they are;
 * - strings that look like a credential wherever they are (Ledgerline's
 *   `ll_…`/`lli_…` tokens, Stripe's `sk_…`/`rk_…` keys, `Bearer …`) too;
 * - strings are cut at 1,000 characters, lists at 100 items, nesting at 8
 *   levels, and an input over 16 KiB as JSON is replaced by its size.
 *
 * `kept` says whether the result is the input unchanged: a call that waits
 * for approval runs from what its request recorded, so it needs `kept`.
 */
const SECRET_KEY = /pass(word|phrase)?|secret|token|api[-_]?key|authori[sz]ation|credential|private[-_]?key|cookie/i
const SECRET_VALUE = /^(ll|lli)_[A-Za-z0-9_-]{8,}|^(sk|rk)_(live|test)_|^bearer\s/i
export const REDACTED = '[redacted]'
const MAX_STRING = 1000
const MAX_ITEMS = 100
const MAX_DEPTH = 8
export const MAX_INPUT_BYTES = 16 * 1024

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

export interface Redacted {
  readonly value: Json
  /** True when `value` is the input exactly. */
  readonly kept: boolean
}

export function redactInput (input: unknown, secretKeys: readonly string[] = []): Redacted {
  const extra = new Set(secretKeys.map((key) => key.toLowerCase()))
  const walk = new Walk((key) => SECRET_KEY.test(key) || extra.has(key.toLowerCase()))
  const value = walk.value(input, 0)
  const bytes = Buffer.byteLength(JSON.stringify(value))
  if (bytes > MAX_INPUT_BYTES) return { value: { '[truncated]': { bytes } }, kept: false }
  return { value, kept: !walk.changed }
}

class Walk {
  changed = false
  constructor (private readonly secret: (key: string) => boolean) {}

  value (input: unknown, depth: number): Json {
    if (input === null || typeof input === 'boolean') return input
    if (typeof input === 'number') return Number.isFinite(input) ? input : this.lost(String(input))
    if (typeof input === 'string') return this.string(input)
    if (depth >= MAX_DEPTH) return this.lost('[too deep]')
    if (Array.isArray(input)) {
      if (input.length > MAX_ITEMS) this.changed = true
      return input.slice(0, MAX_ITEMS).map((item) => this.value(item, depth + 1))
    }
    if (typeof input === 'object') return this.object(input as Record<string, unknown>, depth)
    return this.lost(`[${typeof input}]`)
  }

  object (input: Record<string, unknown>, depth: number): Json {
    const out: Record<string, Json> = {}
    for (const [key, item] of Object.entries(input)) {
      if (item === undefined) continue
      const value = this.secret(key) ? this.lost(REDACTED) : this.value(item, depth + 1)
      Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true })
    }
    return out
  }

  string (input: string): string {
    if (SECRET_VALUE.test(input)) return this.lost(REDACTED)
    if (input.length <= MAX_STRING) return input
    this.changed = true
    return `${input.slice(0, MAX_STRING)}…`
  }

  lost (replacement: string): string {
    this.changed = true
    return replacement
  }
}
