/** IPv4 and IPv6 addresses and CIDR blocks as bigints, for `ipInCidr` (pure: no I/O module). */
export interface Ip { readonly family: 4 | 6, readonly value: bigint }
export interface Cidr { readonly family: 4 | 6, readonly prefix: bigint, readonly shift: bigint }

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
  return { family: ip.family, prefix: ip.value >> shift, shift }
}
