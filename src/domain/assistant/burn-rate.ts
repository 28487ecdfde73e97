/**
 * Burn rates of AI budgets (docs/ai-budgets.md, "Burn rates"): how fast an
 * organization spends its monthly budget, against spending it evenly over
 * the UTC month. Over a window W, burn = spend in W / (budget × W / the
 * month's length): 1 spends the budget exactly by the month's end, 14.4
 * over an hour spends 2% of a 30-day month's budget in that hour.
 *
 * The rules are the SRE workbook's multiwindow alerts: the long window says
 * the spend matters, the short one (1/12 of it) that it still goes on, so a
 * burst that stopped trips nothing. Pure: spend and time arrive as arguments.
 */

export const BURN_WINDOWS = ['5m', '30m', '1h', '6h', '3d'] as const
export type BurnWindow = typeof BURN_WINDOWS[number]

const MINUTE = 60_000
export const WINDOW_MS: Readonly<Record<BurnWindow, number>> = {
  '5m': 5 * MINUTE, '30m': 30 * MINUTE, '1h': 60 * MINUTE, '6h': 360 * MINUTE, '3d': 3 * 24 * 60 * MINUTE
}

/** A rule trips when the burn is above `factor` over both windows. */
export interface BurnRuleDefinition { readonly factor: number, readonly long: BurnWindow, readonly short: BurnWindow }

export const BURN_RULES = {
  page_1h: { factor: 14.4, long: '1h', short: '5m' },
  page_6h: { factor: 6, long: '6h', short: '30m' },
  ticket_3d: { factor: 1, long: '3d', short: '6h' }
} as const satisfies Record<string, BurnRuleDefinition>
export type BurnRule = keyof typeof BURN_RULES
export const BURN_RULE_NAMES = Object.keys(BURN_RULES) as readonly BurnRule[]

/** Micro-units spent in each window. */
export type WindowSpend = Readonly<Record<BurnWindow, number>>
export type BurnRates = Readonly<Record<BurnWindow, number>>

/** The length of the UTC calendar month `now` is in, in milliseconds (28 to 31 days). */
export function monthLengthMs (now: Date): number {
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1) - Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)
}

/** Each window's burn rate; undefined for a budget of 0 or less, which cannot be spent (the assistant is off). */
export function burnRates (spend: WindowSpend, budgetMicros: number, now: Date): BurnRates | undefined {
  if (!(budgetMicros > 0)) return undefined
  const month = monthLengthMs(now)
  const rate = (window: BurnWindow): number => (spend[window] * month) / (budgetMicros * WINDOW_MS[window])
  return { '5m': rate('5m'), '30m': rate('30m'), '1h': rate('1h'), '6h': rate('6h'), '3d': rate('3d') }
}

export function trips (rule: BurnRule, rates: BurnRates): boolean {
  const { factor, long, short } = BURN_RULES[rule]
  return rates[long] > factor && rates[short] > factor
}

/** The rules the rates trip, in BURN_RULE_NAMES order. */
export function rulesTripped (rates: BurnRates): BurnRule[] {
  return BURN_RULE_NAMES.filter((rule) => trips(rule, rates))
}

/**
 * What a list of offenders asks for: a burn above `factor` over `window`. A
 * factor of a rule (14.4, 6, 1) without a window asks for that rule: both its
 * windows, ordered by its long one. Any other factor without one: over 1h.
 * A factor of 0 asks for every organization that spent in the window.
 */
export interface BurnSelection { readonly factor: number, readonly window: BurnWindow, readonly rule: BurnRule | null }

export function burnSelection (factor: number, window?: BurnWindow): BurnSelection {
  const rule = window === undefined ? BURN_RULE_NAMES.find((name) => BURN_RULES[name].factor === factor) : undefined
  if (rule !== undefined) return { factor, window: BURN_RULES[rule].long, rule }
  return { factor, window: window ?? '1h', rule: null }
}

export function selected (selection: BurnSelection, rates: BurnRates): boolean {
  return selection.rule === null ? rates[selection.window] > selection.factor : trips(selection.rule, rates)
}

/** A factor as `over` takes it: `14.4x`, `6x`, `1x`, or any positive number with or without `x`. */
export const FACTOR_PATTERN = /^\d{1,9}(\.\d{1,6})?x?$/

/** The factor `text` names, or undefined when it names none (not the pattern, or 0). */
export function parseFactor (text: string): number | undefined {
  if (!FACTOR_PATTERN.test(text)) return undefined
  const factor = Number(text.endsWith('x') ? text.slice(0, -1) : text)
  return factor > 0 ? factor : undefined
}
