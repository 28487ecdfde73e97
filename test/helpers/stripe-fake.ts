/**
 * A small, stateful Stripe for tests: a local HTTP server speaking the part of
 * Stripe's API that Ledgerline's billing uses, so the real `stripe` SDK runs
 * against it (`STRIPE_API_BASE` points the SDK's host, port and protocol here).
 * Every object it answers is built as the SDK's own type (`Stripe.Customer`,
 * `Stripe.Subscription`, `Stripe.Invoice`, …), so a field the SDK's types add
 * or change fails `tsc` here instead of drifting unnoticed.
 *
 * Covered: `POST /v1/customers`, `GET /v1/customers/:id`; `POST /v1/subscriptions`,
 * `GET /v1/subscriptions/:id`, `POST /v1/subscriptions/:id` (its items' prices,
 * metadata), `DELETE /v1/subscriptions/:id` (cancel now), `GET /v1/subscriptions`
 * (`customer`, `status` with `all`, `limit`, `starting_after`); `GET /v1/invoices`
 * (`customer`, `limit`, `starting_after`), newest first. Errors as Stripe shapes
 * them: 401 without a key, 404 `resource_missing`, 400 `parameter_missing` /
 * `parameter_invalid_integer` / `parameter_unknown`, idempotency keys (a replay
 * answers the first response with `Idempotent-Replayed: true`; other parameters
 * are 400 `idempotency_error`; a key whose first request is still running is
 * 409 `idempotency_key_in_use`), and failures a test injects (`failNext`: a
 * declined card, 402 `card_error`).
 *
 * Not covered: payments (no payment methods, charges, payment intents: a
 * subscription is `active` at once, and a decline happens only when injected),
 * invoicing (invoices exist only when a test adds them; no proration, no
 * upcoming invoice), trials, schedules, coupons, taxes, `expand[]` (ignored),
 * search, deletion of customers, webhooks and events, prices and products as
 * endpoints (the prices are fixed when the fake starts), Connect, API
 * versions (it answers one shape), rate limits, and the 24-hour expiry of
 * idempotency keys.
 */
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type Stripe from 'stripe'

/** A request as the fake saw it, and what it answered. */
export interface FakeRequest {
  readonly method: string
  readonly path: string
  readonly params: Record<string, unknown>
  readonly idempotencyKey: string | undefined
  readonly status: number
  readonly replayed: boolean
}

/** Stripe's error body: `{ error: { type, code?, param?, message, decline_code? } }`. */
export interface FakeError {
  readonly status: number
  readonly type: 'api_error' | 'card_error' | 'idempotency_error' | 'invalid_request_error'
  readonly code?: string
  readonly param?: string
  readonly message: string
  readonly decline_code?: string
}

export const CARD_DECLINED: FakeError = {
  status: 402, type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.'
}

export interface StripeFake {
  /** `http://127.0.0.1:<port>`, for STRIPE_API_BASE. */
  readonly url: string
  readonly customers: Map<string, Stripe.Customer>
  readonly subscriptions: Map<string, Stripe.Subscription>
  readonly invoices: Map<string, Stripe.Invoice>
  readonly requests: FakeRequest[]
  /** Emits `request` (a FakeRequest) after each answer. */
  readonly events: EventEmitter
  /** The next request to `METHOD /path` (e.g. `POST /v1/subscriptions`) answers this error and changes nothing. */
  failNext(route: string, error: FakeError): void
  /** The next request to `METHOD /path` waits, its idempotency key in use, until `release()`; `arrived` when it is there. */
  hold(route: string): { arrived: Promise<void>, release(): void }
  /** `count` paid invoices for the customer, the newest created last. */
  addInvoices(customerId: string, count: number): Stripe.Invoice[]
  close(): Promise<void>
}

export interface StripeFakeOptions {
  /** Price ids to plans' amounts in cents a month: what subscriptions may use. */
  readonly prices?: Readonly<Record<string, number>>
}

export const FAKE_PRICES = { pro: 'price_fake_pro', enterprise: 'price_fake_enterprise' } as const
export const FAKE_KEY = 'sk_test_fakefakefake'

type Params = Record<string, unknown>
type Answer = { status: number, body: unknown }
type Handler = (params: Params, id: string | undefined) => Answer

/** Starts the fake on a free local port. */
export async function startStripeFake (options: StripeFakeOptions = {}): Promise<StripeFake> {
  const state = new FakeState(options.prices ?? { [FAKE_PRICES.pro]: 4900, [FAKE_PRICES.enterprise]: 49900 })
  const server = createServer((request, response) => {
    void state.serve(request, response).catch((error: unknown) => {
      response.writeHead(500, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ error: { type: 'api_error', message: String(error) } }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    customers: state.customers,
    subscriptions: state.subscriptions,
    invoices: state.invoices,
    requests: state.log,
    events: state.events,
    failNext: (route, error) => { state.failures.set(route, error) },
    hold (route) {
      let release = (): void => {}
      let arrive = (): void => {}
      const gate = new Promise<void>((resolve) => { release = resolve })
      const arrived = new Promise<void>((resolve) => { arrive = resolve })
      state.holds.set(route, { gate, arrive })
      return { arrived, release: () => release() }
    },
    addInvoices: (customerId, count) => Array.from({ length: count }, () => state.addInvoice(customerId)),
    close: () => new Promise<void>((resolve, reject) => {
      server.closeAllConnections()
      server.close((error) => (error === undefined ? resolve() : reject(error)))
    })
  }
}

class FakeState {
  readonly customers = new Map<string, Stripe.Customer>()
  readonly subscriptions = new Map<string, Stripe.Subscription>()
  readonly invoices = new Map<string, Stripe.Invoice>()
  readonly log: FakeRequest[] = []
  readonly events = new EventEmitter()
  readonly failures = new Map<string, FakeError>()
  readonly holds = new Map<string, { gate: Promise<void>, arrive: () => void }>()
  readonly #idempotent = new Map<string, { fingerprint: string, answer: Answer | undefined }>()
  readonly #prices: Readonly<Record<string, number>>
  #clock = 1_767_225_600 // 2026-01-01T00:00:00Z: ids and times in creation order, whatever the machine does
  readonly #routes: ReadonlyArray<[string, RegExp, Handler]>

  constructor (prices: Readonly<Record<string, number>>) {
    this.#prices = prices
    this.#routes = [
      ['POST', /^\/v1\/customers$/, (p) => this.createCustomer(p)],
      ['GET', /^\/v1\/customers\/([^/]+)$/, (_p, id) => this.found(this.customers, 'customer', id)],
      ['POST', /^\/v1\/subscriptions$/, (p) => this.createSubscription(p)],
      ['GET', /^\/v1\/subscriptions$/, (p) => this.listSubscriptions(p)],
      ['GET', /^\/v1\/subscriptions\/([^/]+)$/, (_p, id) => this.found(this.subscriptions, 'subscription', id)],
      ['POST', /^\/v1\/subscriptions\/([^/]+)$/, (p, id) => this.updateSubscription(p, id!)],
      ['DELETE', /^\/v1\/subscriptions\/([^/]+)$/, (_p, id) => this.cancelSubscription(id!)],
      ['GET', /^\/v1\/invoices$/, (p) => this.listInvoices(p)]
    ]
  }

  async serve (request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://fake')
    const method = request.method ?? 'GET'
    const body = await readBody(request)
    const params = decodeForm(method === 'GET' ? url.search.slice(1) : body)
    const key = method === 'GET' ? undefined : header(request, 'idempotency-key')
    const { answer, replayed } = await this.answer(method, url.pathname, params, key, request)
    const headers: Record<string, string> = { 'content-type': 'application/json', 'request-id': `req_${randomBytes(7).toString('hex')}` }
    if (replayed) headers['idempotent-replayed'] = 'true'
    if (key !== undefined) headers['idempotency-key'] = key
    response.writeHead(answer.status, headers)
    response.end(JSON.stringify(answer.body))
    const seen: FakeRequest = { method, path: url.pathname, params, idempotencyKey: key, status: answer.status, replayed }
    this.log.push(seen)
    this.events.emit('request', seen)
  }

  private async answer (
    method: string, path: string, params: Params, key: string | undefined, request: IncomingMessage
  ): Promise<{ answer: Answer, replayed: boolean }> {
    if (!/^Bearer (sk|rk)_test_\w+$/.test(header(request, 'authorization') ?? '')) {
      return { answer: failure({ status: 401, type: 'invalid_request_error', message: 'Invalid API Key provided' }), replayed: false }
    }
    const fingerprint = `${method} ${path} ${JSON.stringify(params)}`
    const known = key === undefined ? undefined : this.#idempotent.get(key)
    if (known !== undefined) {
      return { answer: replay(known, fingerprint), replayed: known.answer !== undefined && known.fingerprint === fingerprint }
    }
    const slot = { fingerprint, answer: undefined as Answer | undefined }
    if (key !== undefined) this.#idempotent.set(key, slot)
    const route = `${method} ${path}`
    const held = this.holds.get(route)
    if (held !== undefined) {
      this.holds.delete(route)
      held.arrive()
      await held.gate
    }
    slot.answer = this.handle(method, path, params, route)
    return { answer: slot.answer, replayed: false }
  }

  private handle (method: string, path: string, params: Params, route: string): Answer {
    const injected = this.failures.get(route)
    if (injected !== undefined) {
      this.failures.delete(route)
      return failure(injected)
    }
    for (const [verb, pattern, handler] of this.#routes) {
      const match = verb === method ? pattern.exec(path) : null
      if (match !== null) return handler(params, match[1])
    }
    return failure({ status: 404, type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}).` })
  }

  private found<T> (objects: Map<string, T>, kind: string, id: string | undefined): Answer {
    const object = id === undefined ? undefined : objects.get(id)
    return object === undefined ? missing(kind, id ?? '', 'id') : { status: 200, body: object }
  }

  private createCustomer (params: Params): Answer {
    const unknown = unknownParam(params, ['email', 'name', 'description', 'metadata'])
    if (unknown !== undefined) return unknown
    const customer = customerObject(this.id('cus'), this.tick(), params)
    this.customers.set(customer.id, customer)
    return { status: 200, body: customer }
  }

  private createSubscription (params: Params): Answer {
    const unknown = unknownParam(params, ['customer', 'items', 'metadata', 'payment_behavior', 'proration_behavior', 'expand'])
    if (unknown !== undefined) return unknown
    const customer = params.customer
    if (typeof customer !== 'string') return parameterMissing('customer')
    if (!this.customers.has(customer)) return missing('customer', customer, 'customer')
    const items = itemsOf(params)
    if (items.length === 0) return parameterMissing('items')
    const id = this.id('sub')
    const created = this.tick()
    const built: Stripe.SubscriptionItem[] = []
    for (const [index, item] of items.entries()) {
      if (typeof item.price !== 'string') return parameterMissing(`items[${index}][price]`)
      if (this.#prices[item.price] === undefined) return missing('price', item.price, `items[${index}][price]`)
      built.push(this.item(id, item.price, created))
    }
    const subscription = subscriptionObject(id, customer, created, built, metadataOf(params))
    this.subscriptions.set(id, subscription)
    return { status: 200, body: subscription }
  }

  private updateSubscription (params: Params, id: string): Answer {
    const unknown = unknownParam(params, ['items', 'metadata', 'payment_behavior', 'proration_behavior', 'cancel_at_period_end', 'expand'])
    if (unknown !== undefined) return unknown
    const current = this.subscriptions.get(id)
    if (current === undefined) return missing('subscription', id, 'id')
    let data = current.items.data
    for (const [index, item] of itemsOf(params).entries()) {
      if (typeof item.price !== 'string') return parameterMissing(`items[${index}][price]`)
      if (this.#prices[item.price] === undefined) return missing('price', item.price, `items[${index}][price]`)
      if (item.id === undefined) {
        data = [...data, this.item(id, item.price, this.tick())]
        continue
      }
      if (!data.some((existing) => existing.id === item.id)) {
        return failure({ status: 400, type: 'invalid_request_error', param: `items[${index}][id]`,
          message: `Subscription item ${String(item.id)} is not part of subscription ${id}.` })
      }
      const price = priceObject(item.price, this.#prices)
      data = data.map((existing) => (existing.id === item.id ? { ...existing, price, plan: planOf(price) } : existing))
    }
    const updated: Stripe.Subscription = {
      ...current,
      items: { ...current.items, data },
      metadata: { ...current.metadata, ...metadataOf(params) },
      cancel_at_period_end: params.cancel_at_period_end === undefined
        ? current.cancel_at_period_end
        : params.cancel_at_period_end === 'true'
    }
    this.subscriptions.set(id, updated)
    return { status: 200, body: updated }
  }

  private cancelSubscription (id: string): Answer {
    const current = this.subscriptions.get(id)
    if (current === undefined) return missing('subscription', id, 'id')
    const now = this.tick()
    const canceled: Stripe.Subscription = { ...current, status: 'canceled', canceled_at: now, ended_at: now }
    this.subscriptions.set(id, canceled)
    return { status: 200, body: canceled }
  }

  private listSubscriptions (params: Params): Answer {
    const status = params.status ?? 'active'
    const all = [...this.subscriptions.values()].filter((s) =>
      (params.customer === undefined || s.customer === params.customer) &&
      (status === 'all' || (params.status === undefined ? s.status !== 'canceled' : s.status === status)))
    return page(all, params, '/v1/subscriptions')
  }

  private listInvoices (params: Params): Answer {
    const all = [...this.invoices.values()].filter((i) => params.customer === undefined || i.customer === params.customer)
    return page(all, params, '/v1/invoices')
  }

  addInvoice (customerId: string): Stripe.Invoice {
    const invoice = invoiceObject(this.id('in'), customerId, this.tick(), this.invoices.size + 1)
    this.invoices.set(invoice.id, invoice)
    return invoice
  }

  private item (subscription: string, price: string, created: number): Stripe.SubscriptionItem {
    return itemObject(this.id('si'), subscription, priceObject(price, this.#prices), created)
  }

  /** Ids sort in creation order, as a seed of the fake's clock. */
  private id (prefix: string): string {
    return `${prefix}_${(this.#clock).toString(36)}${randomBytes(4).toString('hex')}`
  }

  private tick (): number {
    return ++this.#clock
  }
}

function replay (known: { fingerprint: string, answer: Answer | undefined }, fingerprint: string): Answer {
  if (known.answer === undefined) {
    return failure({ status: 409, type: 'invalid_request_error', code: 'idempotency_key_in_use',
      message: 'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, ' +
        'and the other request is still going through): please retry this request in a few seconds.' })
  }
  if (known.fingerprint !== fingerprint) {
    return failure({ status: 400, type: 'idempotency_error',
      message: 'Keys for idempotent requests can only be used with the same parameters they were first used with.' })
  }
  return known.answer
}

/** Newest first, `limit` 1 to 100 (default 10), after the object `starting_after` names. */
function page<T extends { id: string, created: number }> (objects: T[], params: Params, url: string): Answer {
  const limit = params.limit === undefined ? 10 : Number(params.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    return failure({ status: 400, type: 'invalid_request_error', code: 'parameter_invalid_integer', param: 'limit',
      message: 'This value must be greater than or equal to 1 and less than or equal to 100.' })
  }
  const sorted = [...objects].sort((a, b) => b.created - a.created)
  let start = 0
  if (params.starting_after !== undefined) {
    const index = sorted.findIndex((object) => object.id === params.starting_after)
    if (index === -1) return missing('object', String(params.starting_after), 'starting_after')
    start = index + 1
  }
  const data = sorted.slice(start, start + limit)
  const list: Stripe.ApiList<T> = { object: 'list', data, has_more: start + limit < sorted.length, url }
  return { status: 200, body: list }
}

function failure (error: FakeError): Answer {
  const { status, ...body } = error
  return { status, body: { error: body } }
}

function missing (kind: string, id: string, param: string): Answer {
  return failure({ status: 404, type: 'invalid_request_error', code: 'resource_missing', param, message: `No such ${kind}: '${id}'` })
}

function parameterMissing (param: string): Answer {
  return failure({ status: 400, type: 'invalid_request_error', code: 'parameter_missing', param,
    message: `Missing required param: ${param}.` })
}

function unknownParam (params: Params, allowed: readonly string[]): Answer | undefined {
  const unknown = Object.keys(params).find((name) => !allowed.includes(name))
  return unknown === undefined ? undefined : failure({ status: 400, type: 'invalid_request_error', code: 'parameter_unknown',
    param: unknown, message: `Received unknown parameter: ${unknown}` })
}

function itemsOf (params: Params): Array<{ id?: unknown, price?: unknown }> {
  const items = params.items
  if (items === undefined) return []
  return Object.values(items as Record<string, { id?: unknown, price?: unknown }>)
}

function metadataOf (params: Params): Record<string, string> {
  return (params.metadata ?? {}) as Record<string, string>
}

function header (request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

async function readBody (request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** Stripe's form encoding (`items[0][price]=…`, `metadata[orgId]=…`) to nested objects; indexes stay object keys. */
export function decodeForm (text: string): Params {
  const root: Params = {}
  for (const [name, value] of new URLSearchParams(text)) {
    const path = name.split(/\[|\]\[|\]/).filter((part, index) => index === 0 || part !== '')
    let node = root
    for (const [index, part] of path.entries()) {
      if (index === path.length - 1) {
        node[part] = value
      } else {
        node[part] ??= {}
        node = node[part] as Params
      }
    }
  }
  return root
}

// ── Stripe's objects, typed as the SDK types them ─────────────────────────

function customerObject (id: string, created: number, params: Params): Stripe.Customer {
  return {
    id, object: 'customer', balance: 0, created, default_source: null, description: (params.description as string | undefined) ?? null,
    email: (params.email as string | undefined) ?? null, name: (params.name as string | undefined) ?? null,
    invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
    livemode: false, metadata: metadataOf(params), shipping: null
  }
}

function priceObject (id: string, prices: Readonly<Record<string, number>>): Stripe.Price {
  return {
    id, object: 'price', active: true, billing_scheme: 'per_unit', created: 1_767_225_600, currency: 'usd', custom_unit_amount: null,
    livemode: false, lookup_key: null, metadata: {}, nickname: null, product: `prod_${id.slice('price_'.length)}`,
    recurring: { interval: 'month', interval_count: 1, meter: null, trial_period_days: null, usage_type: 'licensed' },
    tax_behavior: 'unspecified', tiers_mode: null, transform_quantity: null, type: 'recurring', unit_amount: prices[id] ?? null,
    unit_amount_decimal: null
  }
}

function planOf (price: Stripe.Price): Stripe.Plan {
  return {
    id: price.id, object: 'plan', active: true, amount: price.unit_amount, amount_decimal: null, billing_scheme: 'per_unit',
    created: price.created, currency: price.currency, interval: 'month', interval_count: 1, livemode: false, metadata: {}, meter: null,
    nickname: null, product: price.product as string, tiers_mode: null, transform_usage: null, trial_period_days: null,
    usage_type: 'licensed'
  }
}

const MONTH = 30 * 24 * 3600

function itemObject (id: string, subscription: string, price: Stripe.Price, created: number): Stripe.SubscriptionItem {
  return {
    id, object: 'subscription_item', billing_thresholds: null, created, current_period_start: created,
    current_period_end: created + MONTH, current_trial: null, discounts: [], metadata: {}, plan: planOf(price), price, quantity: 1,
    subscription, tax_rates: []
  }
}

function subscriptionObject (
  id: string, customer: string, created: number, items: Stripe.SubscriptionItem[], metadata: Record<string, string>
): Stripe.Subscription {
  return {
    id, object: 'subscription', application: null, application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null }, billing_cycle_anchor: created,
    billing_cycle_anchor_config: null, billing_mode: { flexible: null, type: 'classic' }, billing_schedules: [],
    billing_thresholds: null, cancel_at: null, cancel_at_period_end: false, canceled_at: null, cancellation_details: null,
    collection_method: 'charge_automatically', created, currency: 'usd', customer, customer_account: null, days_until_due: null,
    default_payment_method: null, default_source: null, description: null, discounts: [], ended_at: null,
    invoice_settings: { account_tax_ids: null, custom_fields: null, description: null, footer: null, issuer: { type: 'self' } },
    items: { object: 'list', data: items, has_more: false, url: `/v1/subscription_items?subscription=${id}` },
    latest_invoice: null, livemode: false, managed_payments: null, metadata, next_pending_invoice_item_invoice: null,
    on_behalf_of: null, pause_collection: null, payment_settings: null, pending_invoice_item_interval: null,
    pending_setup_intent: null, pending_update: null, schedule: null, start_date: created, status: 'active', test_clock: null,
    transfer_data: null, trial_end: null, trial_settings: null, trial_start: null
  }
}

function invoiceObject (id: string, customer: string, created: number, sequence: number): Stripe.Invoice {
  const amount = 4900
  return {
    id, object: 'invoice', account_country: 'US', account_name: 'Ledgerline test', account_tax_ids: null, amount_due: amount,
    amount_overpaid: 0, amount_paid: amount, amount_remaining: 0, amount_shipping: 0, application: null, attempt_count: 1,
    attempted: true, automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
    automatically_finalizes_at: null, billing_reason: 'subscription_cycle', collection_method: 'charge_automatically', created,
    currency: 'usd', custom_fields: null, customer, customer_account: null, customer_address: null, customer_email: null,
    customer_name: null, customer_phone: null, customer_shipping: null, customer_tax_exempt: 'none', default_payment_method: null,
    default_source: null, default_tax_rates: [], description: null, discounts: [], due_date: null, effective_at: created,
    ending_balance: 0, footer: null, from_invoice: null, hosted_invoice_url: null, invoice_pdf: null, issuer: { type: 'self' },
    last_finalization_error: null, latest_revision: null,
    lines: { object: 'list', data: [], has_more: false, url: `/v1/invoices/${id}/lines` },
    livemode: false, metadata: {}, next_payment_attempt: null, number: `FAKE-${String(sequence).padStart(4, '0')}`, on_behalf_of: null,
    parent: null, payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
    period_end: created, period_start: created - MONTH, post_payment_credit_notes_amount: 0, pre_payment_credit_notes_amount: 0,
    receipt_number: null, rendering: null, shipping_cost: null, shipping_details: null, starting_balance: 0, statement_descriptor: null,
    status: 'paid', status_transitions: { finalized_at: created, marked_uncollectible_at: null, paid_at: created, voided_at: null },
    subtotal: amount, subtotal_excluding_tax: amount, test_clock: null, total: amount, total_discount_amounts: [],
    total_excluding_tax: amount, total_pretax_credit_amounts: [], total_taxes: [], webhooks_delivered_at: created
  }
}
