/**
 * IPv4 and IPv6 addresses and CIDR blocks, for `ipInCidr` (pure: no I/O module).
 *
 * One address space of 128 bits: an IPv4 address is its IPv4-mapped IPv6
 * address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2). `10.0.0.0/8` and
 * `::ffff:10.0.0.0/104` are then the same block, a client seen as `10.1.2.3`
 * or as `::ffff:10.1.2.3` gets the same answer, and `::/0` holds every address.
 */
export interface Cidr {
  /** The block: an address is inside when `address >> shift === prefix`. */
  readonly prefix: bigint
  readonly shift: bigint
  /**
   * The IPv4 addresses inside, as an unsigned 32-bit mask and network (mask 0:
   * all of them), or undefined when the block holds none: a dotted-quad check
   * needs no bigint.
   */
  readonly v4: { readonly mask: number, readonly network: number } | undefined
}

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const MAPPED = 0xffffn << 32n

function parseV4 (text: string): bigint | undefined {
  if (!V4.test(text)) return undefined
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(part), 0n)
}

/** Eight groups of 1 to 4 hex digits, one `::` standing for one or more zero groups. */
function parseHexGroups (text: string): bigint | undefined {
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const groups = (half: string): string[] | undefined => {
    if (half === '') return []
    const parts = half.split(':')
    return parts.every((part) => /^[0-9a-fA-F]{1,4}$/.test(part)) ? parts : undefined
  }
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  if (head === undefined || tail === undefined) return undefined
  const missing = 8 - head.length - tail.length
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return undefined
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail]
  return all.reduce((acc, part) => (acc << 16n) | BigInt(`0x${part}`), 0n)
}

/** IPv6 text (RFC 4291 §2.2), a dotted quad allowed as its last 32 bits; no zone index. */
function parseV6 (text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(text)) return undefined
  if (!text.includes('.')) return parseHexGroups(text)
  const colon = text.lastIndexOf(':')
  const v4 = parseV4(text.slice(colon + 1))
  if (colon === -1 || v4 === undefined) return undefined
  return parseHexGroups(`${text.slice(0, colon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`)
}

/**
 * A dotted-quad IPv4 address as an unsigned 32-bit number: the addresses V4
 * accepts, read without a regex or bigints, since `ipInCidr` reads the
 * request's address on every check.
 */
export function ipv4Number (text: string): number | undefined {
  if (text.length < 7 || text.length > 15) return undefined
  let value = 0
  let part = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 46) { // '.'
      if (digits === 0 || dots === 3) return undefined
      value = value * 256 + part
      part = 0
      digits = 0
      dots++
    } else if (code >= 48 && code <= 57) {
      if (digits > 0 && part === 0) return undefined // a leading zero
      part = part * 10 + code - 48
      if (++digits > 3 || part > 255) return undefined
    } else {
      return undefined
    }
  }
  return dots === 3 && digits > 0 ? value * 256 + part : undefined
}

/** An address as 128 bits, IPv4 as its mapped IPv6 address; undefined when the text is neither. */
export function parseIp (text: string): bigint | undefined {
  const v4 = parseV4(text)
  return v4 !== undefined ? MAPPED | v4 : parseV6(text)
}

/** The IPv4 part of a block of `length` bits starting at `value`: all of IPv4, some of it, or none. */
function v4Part (value: bigint, length: number): Cidr['v4'] {
  if (length <= 96) {
    const shift = BigInt(128 - length)
    return (value >> shift) === (MAPPED >> shift) ? { mask: 0, network: 0 } : undefined
  }
  if ((value >> 32n) !== 0xffffn) return undefined
  const mask = (0xffffffff << (128 - length)) >>> 0
  return { mask, network: (Number(value & 0xffffffffn) & mask) >>> 0 }
}

/** `a.b.c.d/n` (n ≤ 32) or `<IPv6>/n` (n ≤ 128), IPv4-mapped blocks included; host bits are ignored. */
export function parseCidr (text: string): Cidr | undefined {
  const [address, bits, extra] = text.split('/')
  if (address === undefined || bits === undefined || extra !== undefined || !/^\d{1,3}$/.test(bits)) return undefined
  const v4 = parseV4(address)
  const value = v4 !== undefined ? MAPPED | v4 : parseV6(address)
  const length = Number(bits) + (v4 !== undefined ? 96 : 0)
  if (value === undefined || (v4 !== undefined && Number(bits) > 32) || length > 128) return undefined
  const shift = BigInt(128 - length)
  return { prefix: value >> shift, shift, v4: v4Part(value, length) }
}

let lastText: string | undefined
let lastIp: bigint | undefined

/** Whether `text` is an address inside `cidr`; the last address parsed is remembered, as one check reads it for every grant. */
export function ipInCidr (text: string, cidr: Cidr): boolean {
  const v4 = ipv4Number(text)
  if (v4 !== undefined) return cidr.v4 !== undefined && ((v4 & cidr.v4.mask) >>> 0) === cidr.v4.network
  if (text !== lastText) {
    lastIp = parseIp(text)
    lastText = text
  }
  return lastIp !== undefined && (lastIp >> cidr.shift) === cidr.prefix
}
