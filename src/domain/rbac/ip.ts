/** IPv4 and IPv6 addresses and CIDR blocks as bigints, for `ipInCidr` (pure: no I/O module). */
export interface Ip { readonly family: 4 | 6, readonly value: bigint }
export interface Cidr {
  readonly family: 4 | 6
  readonly prefix: bigint
  readonly shift: bigint
  /** IPv4 blocks only (0 otherwise): mask and network as unsigned 32-bit numbers, so a check needs no bigint. */
  readonly mask: number
  readonly network: number
}

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

function parseV4 (text: string): bigint | undefined {
  if (!V4.test(text)) return undefined
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(part), 0n)
}

function parseV6 (text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(text)) return undefined
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const groups = (half: string): string[] | undefined => {
    if (half === '') return []
    const parts = half.split(':')
    const last = parts.at(-1)!
    if (last.includes('.')) {
      const v4 = parseV4(last)
      if (v4 === undefined) return undefined
      parts.splice(-1, 1, ((v4 >> 16n) & 0xffffn).toString(16), (v4 & 0xffffn).toString(16))
    }
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

const MAPPED_V4 = 0xffffn << 32n

/** An address, with IPv4-mapped IPv6 (`::ffff:a.b.c.d`) taken as the IPv4 address it maps. */
export function parseIp (text: string): Ip | undefined {
  const v4 = parseV4(text)
  if (v4 !== undefined) return { family: 4, value: v4 }
  const v6 = parseV6(text)
  if (v6 === undefined) return undefined
  if ((v6 >> 32n) === 0xffffn) return { family: 4, value: v6 - MAPPED_V4 }
  return { family: 6, value: v6 }
}

export function parseCidr (text: string): Cidr | undefined {
  const [address, bits, extra] = text.split('/')
  if (address === undefined || bits === undefined || extra !== undefined || !/^\d{1,3}$/.test(bits)) return undefined
  const ip = parseIp(address)
  if (ip === undefined) return undefined
  const width = ip.family === 4 ? 32 : 128
  const length = Number(bits)
  if (length > width) return undefined
  const shift = BigInt(width - length)
  const mask = ip.family === 4 && length > 0 ? (0xffffffff << (32 - length)) >>> 0 : 0
  const network = ip.family === 4 ? (Number(ip.value) & mask) >>> 0 : 0
  return { family: ip.family, prefix: ip.value >> shift, shift, mask, network }
}

let lastText: string | undefined
let lastIp: Ip | undefined

/** Whether `text` is an address inside `cidr`; the last address parsed is remembered, as one check reads it for every grant. */
export function ipInCidr (text: string, cidr: Cidr): boolean {
  if (cidr.family === 4) {
    const v4 = ipv4Number(text)
    if (v4 !== undefined) return ((v4 & cidr.mask) >>> 0) === cidr.network
  }
  if (text !== lastText) {
    lastIp = parseIp(text)
    lastText = text
  }
  return lastIp !== undefined && lastIp.family === cidr.family && (lastIp.value >> cidr.shift) === cidr.prefix
}
