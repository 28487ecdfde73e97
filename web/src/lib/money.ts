/**
 * The API counts money in integer micro-units (1 USD = 1,000,000): shown as
 * currency, and read back from what a person types, exactly (no float
 * arithmetic on the way, so 0.29 is 290000 micro-units, not 289999).
 */
export const MICROS = 1_000_000

/** Micro-units as currency; to the micro-unit unless told fewer decimals (a response costs fractions of a cent). */
export function formatMicros (micros: number, currency: string, maximumFractionDigits = 6): string {
  return new Intl.NumberFormat(undefined, { style: 'currency', currency, minimumFractionDigits: 2, maximumFractionDigits })
    .format(micros / MICROS)
}

/** Micro-units as a plain decimal for a form field: 2500000 → "2.50", 1 → "0.000001". */
export function decimalOf (micros: number): string {
  const sign = micros < 0 ? '-' : ''
  const whole = Math.floor(Math.abs(micros) / MICROS)
  const fraction = String(Math.abs(micros) % MICROS).padStart(6, '0').replace(/0+$/, '').padEnd(2, '0')
  return `${sign}${whole}.${fraction}`
}

/**
 * What a person typed in currency units as micro-units, or why it is not an
 * amount. A minus sign is read (the API says what it accepts); more than six
 * decimals is finer than the API counts.
 */
export function microsOf (text: string): { micros: number } | { error: string } {
  // No thousands separators: "12,50" would mean 12.50 to some and 1,250 to others.
  const match = /^(-?)\$?(\d{0,12})(?:\.(\d*))?$/.exec(text.trim())
  const [, sign = '', whole = '', fraction = ''] = match ?? []
  if (match === null || whole + fraction === '') return { error: 'Enter an amount in currency units, such as 25 or 12.50.' }
  if (fraction.length > 6) return { error: 'An amount has at most six decimals (one micro-unit is 0.000001).' }
  const micros = Number(whole === '' ? '0' : whole) * MICROS + Number(fraction.padEnd(6, '0'))
  return { micros: sign === '-' ? -micros : micros }
}
