/**
 * The decider kernel (decider.ts) and its given/when/then helper (testing.ts),
 * shown on a small but real aggregate: a bank account whose balance never goes
 * below zero nor above a cap. Pure tests first, then `handleCommand` end to end
 * against the PostgreSQL event store on every driver.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { same as looseEquivalent, strict as strictEquivalent } from 'tcompare'
import { z } from 'zod'
import { forEachDatabase } from '../../test/helpers/databases.ts'
import { createPostgresEventStore } from '../eventstore/postgres.ts'
import type { EventStore, NewEvent, RecordedEvent } from '../eventstore/types.ts'
import { fold, handleCommand, type DecisionContext, type Decider, type DomainEvent, type StateCache } from './decider.ts'
import { eventIdFor, metadataFor, newTraceId, type CommandMetadata } from './envelope.ts'
import { LedgerlineError } from './errors.ts'
import { StoreUnavailable, StreamNotFound, WrongExpectedVersion } from '../eventstore/errors.ts'
import { EventRegistry, defineEvent } from './registry.ts'
import { TEST_CONTEXT, spec } from './testing.ts'

// ---------------------------------------------------------------------------
// The sample aggregate: an account with a balance cap.
// ---------------------------------------------------------------------------

/** Highest balance an account may hold, in cents. */
const CAP = 10_000

type AccountCommand =
  | { readonly type: 'open', readonly owner: string, readonly initialDeposit?: number | undefined }
  | { readonly type: 'deposit', readonly amount: number }
  | { readonly type: 'withdraw', readonly amount: number }
  | { readonly type: 'close' }

type AccountEvent =
  | DomainEvent<'account.opened', { owner: string, openedAt: string }>
  | DomainEvent<'account.deposited', { amount: number }>
  | DomainEvent<'account.withdrawn', { amount: number }>
  | DomainEvent<'account.closed', { closedBy: string }>

type AccountState =
  | { readonly status: 'none' }
  | { readonly status: 'open', readonly owner: string, readonly balance: number }
  | { readonly status: 'closed', readonly owner: string }

class AccountAlreadyOpen extends LedgerlineError {
  readonly code = 'account.already_open'
  readonly status = 409
  constructor () {
    super('the account is already open')
  }
}

class AccountNotOpen extends LedgerlineError {
  readonly code = 'account.not_open'
  readonly status = 409
  constructor (readonly current: AccountState['status']) {
    super(`the account is ${current === 'none' ? 'not open yet' : 'closed'}`, { status: current })
  }
}

class InvalidAccountCommand extends LedgerlineError {
  readonly code = 'account.invalid_command'
  readonly status = 400
  constructor (readonly field: string) {
    super(`invalid ${field}`, { field })
  }
}

class InsufficientFunds extends LedgerlineError {
  readonly code = 'account.insufficient_funds'
  readonly status = 422
  constructor (readonly balance: number, readonly amount: number) {
    super(`cannot withdraw ${amount} from a balance of ${balance}`, { balance, amount })
  }
}

class BalanceCapExceeded extends LedgerlineError {
  readonly code = 'account.cap_exceeded'
  readonly status = 422
  constructor (readonly balance: number, readonly amount: number) {
    super(`a deposit of ${amount} would take the balance over ${CAP}`, { balance, amount, cap: CAP })
  }
}

class AccountNotEmpty extends LedgerlineError {
  readonly code = 'account.not_empty'
  readonly status = 409
  constructor (readonly balance: number) {
    super('only an empty account can be closed', { balance })
  }
}

function requireAmount (amount: number, field: string): number {
  if (!Number.isSafeInteger(amount) || amount <= 0) throw new InvalidAccountCommand(field)
  return amount
}

function openAccount (command: Extract<AccountCommand, { type: 'open' }>, state: AccountState, context: DecisionContext): AccountEvent[] {
  if (state.status !== 'none') throw new AccountAlreadyOpen()
  if (command.owner.trim() === '') throw new InvalidAccountCommand('owner')
  const initial = command.initialDeposit === undefined ? 0 : command.initialDeposit
  if (initial !== 0) requireAmount(initial, 'initialDeposit')
  if (initial > CAP) throw new BalanceCapExceeded(0, initial)
  const opened: AccountEvent = { type: 'account.opened', data: { owner: command.owner, openedAt: context.now.toISOString() } }
  return initial === 0 ? [opened] : [opened, { type: 'account.deposited', data: { amount: initial } }]
}

const account: Decider<AccountCommand, AccountEvent, AccountState> = {
  initialState: () => ({ status: 'none' }),

  decide (command, state, context) {
    switch (command.type) {
      case 'open': return openAccount(command, state, context)
      case 'deposit': {
        if (state.status !== 'open') throw new AccountNotOpen(state.status)
        const amount = requireAmount(command.amount, 'amount')
        if (state.balance + amount > CAP) throw new BalanceCapExceeded(state.balance, amount)
        return [{ type: 'account.deposited', data: { amount } }]
      }
      case 'withdraw': {
        if (state.status !== 'open') throw new AccountNotOpen(state.status)
        const amount = requireAmount(command.amount, 'amount')
        if (amount > state.balance) throw new InsufficientFunds(state.balance, amount)
        return [{ type: 'account.withdrawn', data: { amount } }]
      }
      case 'close': {
        if (state.status === 'closed') return [] // closing twice is not an error: there is nothing to record
        if (state.status === 'none') throw new AccountNotOpen(state.status)
        if (state.balance !== 0) throw new AccountNotEmpty(state.balance)
        return [{ type: 'account.closed', data: { closedBy: context.actor.id } }]
      }
    }
  },

  evolve (state, event) {
    switch (event.type) {
      case 'account.opened':
        return { status: 'open', owner: event.data.owner, balance: 0 }
      case 'account.deposited':
        return state.status === 'open' ? { ...state, balance: state.balance + event.data.amount } : state
      case 'account.withdrawn':
        return state.status === 'open' ? { ...state, balance: state.balance - event.data.amount } : state
      case 'account.closed':
        return state.status === 'open' ? { status: 'closed', owner: state.owner } : state
    }
  }
}

const registry = new EventRegistry([
  defineEvent({ type: 'account.opened', schema: z.object({ owner: z.string().min(1), openedAt: z.iso.datetime() }).strict() }),
  defineEvent({ type: 'account.deposited', schema: z.object({ amount: z.number().int().positive() }).strict() }),
  defineEvent({ type: 'account.withdrawn', schema: z.object({ amount: z.number().int().positive() }).strict() }),
  defineEvent({ type: 'account.closed', schema: z.object({ closedBy: z.string().min(1) }).strict() })
])

/** The account's invariant, on the state alone. */
function stateIsValid (state: AccountState): boolean {
  switch (state.status) {
    case 'none': return Object.keys(state).length === 1
    case 'open': return Number.isSafeInteger(state.balance) && state.balance >= 0 && state.balance <= CAP && state.owner.trim() !== ''
    case 'closed': return state.owner.trim() !== ''
  }
}

/** The account's invariant, on its history: opened once and first, nothing after closed, amounts positive. */
function historyIsValid (history: readonly AccountEvent[]): boolean {
  return history.every((event, index) =>
    (event.type === 'account.opened') === (index === 0) &&
    (event.type === 'account.closed' ? index === history.length - 1 : true) &&
    (event.type === 'account.deposited' || event.type === 'account.withdrawn'
      ? Number.isSafeInteger(event.data.amount) && event.data.amount > 0
      : true))
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const opened = (owner = 'alice', at = TEST_CONTEXT.now): AccountEvent =>
  ({ type: 'account.opened', data: { owner, openedAt: at.toISOString() } })
const deposited = (amount: number): AccountEvent => ({ type: 'account.deposited', data: { amount } })
const withdrawn = (amount: number): AccountEvent => ({ type: 'account.withdrawn', data: { amount } })
const closed = (by = TEST_CONTEXT.actor.id): AccountEvent => ({ type: 'account.closed', data: { closedBy: by } })

function commandMetadata (overrides: Partial<CommandMetadata> = {}): CommandMetadata {
  return {
    commandId: crypto.randomUUID(),
    now: new Date('2026-03-01T12:00:00.000Z'),
    actor: { type: 'user', id: 'user-alice' },
    traceId: newTraceId(),
    ...overrides
  }
}

const newStream = (): string => `account-${crypto.randomUUID()}`

const asDomain = (event: RecordedEvent): AccountEvent => ({ type: event.type, data: event.data }) as AccountEvent

function codeOf (error: unknown): string | undefined {
  return error instanceof LedgerlineError ? error.code : undefined
}

interface AppendCall {
  readonly expectedVersion: unknown
  readonly ids: string[]
}

interface Spied {
  readonly store: EventStore
  readonly appends: AppendCall[]
  /** The length of every readStream result, in order. */
  readonly reads: number[]
}

/** Wraps a store to record what handleCommand read and appended, and to run hooks around each append. */
function spyOn (inner: EventStore, hooks: {
  before?: (attempt: number) => Promise<void>
  after?: (attempt: number) => Promise<void>
} = {}): Spied {
  const appends: AppendCall[] = []
  const reads: number[] = []
  const store: EventStore = {
    ...inner,
    async readStream (streamId, options) {
      const events = await inner.readStream(streamId, options)
      reads.push(events.length)
      return events
    },
    async append (streamId, events: readonly NewEvent[], options) {
      const attempt = appends.length
      appends.push({ expectedVersion: options?.expectedVersion, ids: events.map((event) => event.id) })
      await hooks.before?.(attempt)
      const result = await inner.append(streamId, events, options)
      await hooks.after?.(attempt)
      return result
    }
  }
  return { store, appends, reads }
}

/**
 * A stand-in for tap's `t` that judges each assertion the spec helper makes
 * with tap's own comparison library (tcompare), so a test can see whether
 * the helper would have passed or failed without failing itself.
 */
function recordingTest (): { t: Test, verdicts: boolean[] } {
  const verdicts: boolean[] = []
  const checks: Record<string, (...args: unknown[]) => boolean> = {
    same: (found, wanted) => looseEquivalent(found, wanted).match,
    strictSame: (found, wanted) => strictEquivalent(found, wanted).match,
    equal: (found, wanted) => Object.is(found, wanted),
    ok: (value) => Boolean(value),
    notOk: (value) => !value,
    pass: () => true,
    fail: () => false
  }
  const fake = new Proxy({}, {
    get (_target, key) {
      const check = typeof key === 'string' ? checks[key] : undefined
      if (check === undefined) throw new Error(`the recorder does not model t.${String(key)}`)
      return (...args: unknown[]) => {
        const verdict = check(...args)
        verdicts.push(verdict)
        return verdict
      }
    }
  })
  return { t: fake as Test, verdicts }
}

/** Runs commands through decide/evolve in memory, as a reference model. */
function runInMemory (commands: readonly AccountCommand[], context: DecisionContext = TEST_CONTEXT) {
  let state = account.initialState()
  const history: AccountEvent[] = []
  const steps: Array<{ before: AccountState, command: AccountCommand, outcome: AccountEvent[] | LedgerlineError, after: AccountState }> = []
  for (const command of commands) {
    const before = state
    let outcome: AccountEvent[] | LedgerlineError
    try {
      outcome = account.decide(command, state, context)
      for (const event of outcome) state = account.evolve(state, event)
      history.push(...outcome)
    } catch (error) {
      if (!(error instanceof LedgerlineError)) throw error // a decider rejects only with typed domain errors
      outcome = error
    }
    steps.push({ before, command, outcome, after: state })
  }
  return { state, history, steps }
}

const amountArbitrary = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 4_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, -250, 0.5, 1.25, CAP + 1, Number.NaN, Number.POSITIVE_INFINITY) }
)

const commandArbitrary: fc.Arbitrary<AccountCommand> = fc.oneof(
  fc.record({
    type: fc.constant('open' as const),
    owner: fc.constantFrom('alice', 'bob & co', '', '  '),
    initialDeposit: fc.option(amountArbitrary, { nil: undefined })
  }),
  { weight: 3, arbitrary: fc.record({ type: fc.constant('deposit' as const), amount: amountArbitrary }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('withdraw' as const), amount: amountArbitrary }) },
  fc.constant({ type: 'close' as const })
)

/** Commands that start with an open, so most sequences get somewhere. */
const sessionArbitrary = fc.tuple(fc.integer({ min: 0, max: CAP }), fc.array(commandArbitrary, { maxLength: 30 }))
  .map(([initialDeposit, rest]): AccountCommand[] => [{ type: 'open', owner: 'alice', initialDeposit }, ...rest])

function verdict<Ts> (t: Test, details: fc.RunDetails<Ts>, message: string): void {
  t.notOk(details.failed, details.failed ? `${message}\n${fc.defaultReportMessage(details) ?? ''}` : message)
}

// ---------------------------------------------------------------------------
// Pure: the sample decider through the spec helper
// ---------------------------------------------------------------------------

t.test('the sample account decides through spec(decider).given().when().then()', async (t) => {
  const s = spec(account)
  s.given([]).when({ type: 'open', owner: 'alice' }).then(t, [opened()], 'opening an account records who and when (TEST_CONTEXT.now)')
  s.given([]).when({ type: 'open', owner: 'alice', initialDeposit: 500 })
    .then(t, [opened(), deposited(500)], 'an initial deposit is a second event')
  s.given([]).when({ type: 'open', owner: 'alice', initialDeposit: CAP }).then(t, [opened(), deposited(CAP)], 'the cap itself is allowed')
  s.given([opened()]).when({ type: 'open', owner: 'bob' }).thenThrows(t, 'account.already_open')
  s.given([]).when({ type: 'open', owner: ' ' }).thenThrows(t, 'account.invalid_command', 'a blank owner is refused')
  s.given([]).when({ type: 'open', owner: 'alice', initialDeposit: CAP + 1 }).thenThrows(t, 'account.cap_exceeded')
  s.given([]).when({ type: 'deposit', amount: 1 }).thenThrows(t, 'account.not_open', 'no deposit before the account opens')
  s.given([opened(), deposited(9_000)]).when({ type: 'deposit', amount: 1_000 }).then(t, [deposited(1_000)], 'a deposit up to the cap')
  s.given([opened(), deposited(9_000)]).when({ type: 'deposit', amount: 1_001 })
    .thenThrows(t, 'account.cap_exceeded', 'a deposit over the cap')
  s.given([opened()]).when({ type: 'deposit', amount: 0 }).thenThrows(t, 'account.invalid_command', 'a zero deposit')
  s.given([opened()]).when({ type: 'deposit', amount: 2.5 }).thenThrows(t, 'account.invalid_command', 'a fractional deposit')
  s.given([opened(), deposited(300)]).when({ type: 'withdraw', amount: 300 }).then(t, [withdrawn(300)], 'withdrawing everything')
  s.given([opened(), deposited(300)]).when({ type: 'withdraw', amount: 301 }).thenThrows(t, 'account.insufficient_funds')
  s.given([opened(), deposited(300), withdrawn(300)]).when({ type: 'close' })
    .then(t, [closed()], 'closing an empty account records who closed it')
  s.given([opened(), deposited(1)]).when({ type: 'close' }).thenThrows(t, 'account.not_empty')
  s.given([opened(), closed()]).when({ type: 'close' }).then(t, [], 'closing a closed account decides nothing')
  s.given([opened(), closed()]).when({ type: 'deposit', amount: 5 }).thenThrows(t, 'account.not_open', 'no deposit after closing')
  s.given([]).when({ type: 'close' }).thenThrows(t, 'account.not_open')

  const context: DecisionContext = { now: new Date('2030-05-06T07:08:09.000Z'), actor: { type: 'service', id: 'svc-billing' } }
  s.given([]).when({ type: 'open', owner: 'carol' }, context)
    .then(t, [opened('carol', context.now)], 'when() takes another context: its clock')
  s.given([opened()]).when({ type: 'close' }, context).then(t, [closed('svc-billing')], 'and its actor')
})

t.test('spec().then() and thenThrows() fail when the decider does not do what they expect', async (t) => {
  const s = spec(account)
  const cases: Array<[string, (t: Test) => void, boolean]> = [
    ['then() with exactly the decided events',
      (t) => s.given([opened()]).when({ type: 'deposit', amount: 5 }).then(t, [deposited(5)]), true],
    ['then() with another amount', (t) => s.given([opened()]).when({ type: 'deposit', amount: 5 }).then(t, [deposited(6)]), false],
    ['then() with an event missing',
      (t) => s.given([]).when({ type: 'open', owner: 'alice', initialDeposit: 5 }).then(t, [opened()]), false],
    ['then() with an event too many',
      (t) => s.given([opened()]).when({ type: 'deposit', amount: 5 }).then(t, [deposited(5), deposited(5)]), false],
    ['then() with the events in another order',
      (t) => s.given([]).when({ type: 'open', owner: 'alice', initialDeposit: 5 }).then(t, [deposited(5), opened()]), false],
    ['thenThrows() with the thrown code', (t) => s.given([]).when({ type: 'deposit', amount: 5 }).thenThrows(t, 'account.not_open'), true],
    ['thenThrows() with another code',
      (t) => s.given([]).when({ type: 'deposit', amount: 5 }).thenThrows(t, 'account.insufficient_funds'), false],
    ['thenThrows() when the decider decides events',
      (t) => s.given([opened()]).when({ type: 'deposit', amount: 5 }).thenThrows(t, 'account.not_open'), false],
    ['thenThrows() when the decider decides nothing',
      (t) => s.given([opened(), closed()]).when({ type: 'close' }).thenThrows(t, 'account.not_open'), false]
  ]
  for (const [label, run, shouldPass] of cases) {
    const recorder = recordingTest()
    run(recorder.t)
    t.ok(recorder.verdicts.length > 0, `${label}: asserts something`)
    t.equal(recorder.verdicts.every(Boolean), shouldPass, `${label}: ${shouldPass ? 'passes' : 'fails'}`)
  }

  const noCode: Decider<AccountCommand, AccountEvent, AccountState> = {
    ...account,
    decide () { throw new TypeError('a bug, not a domain error') }
  }
  const recorder = recordingTest()
  spec(noCode).given([]).when({ type: 'close' }).thenThrows(recorder.t, 'account.not_open')
  t.equal(recorder.verdicts.every(Boolean), false, 'thenThrows() fails on an error that carries no domain code')
})

// Regression (testing.ts once did this): then() compares with t.same, tap's loose (==) deep equality,
// so a decider that emits { amount: '5' } (which the registry then rejects at
// append time) passes a spec that expects { amount: 5 }. It should use t.strictSame.
t.test('spec().then() fails when a decided field has the wrong type', async (t) => {
  const stringly: Decider<AccountCommand, AccountEvent, AccountState> = {
    ...account,
    decide: (command, state, context) => account.decide(command, state, context)
      .map((event) => event.type === 'account.deposited'
        ? { ...event, data: { amount: String(event.data.amount) } } as unknown as AccountEvent
        : event)
  }
  const recorder = recordingTest()
  spec(stringly).given([opened()]).when({ type: 'deposit', amount: 5 }).then(recorder.t, [deposited(5)])
  t.equal(recorder.verdicts.every(Boolean), false, 'then() must fail: the decider emitted the string "5" where the number 5 was expected')
})

t.test('fold starts from the initial state and applies events in order, from any iterable', async (t) => {
  t.strictSame(fold(account, []), { status: 'none' }, 'no events: the initial state')
  t.strictSame(fold(account, [opened(), deposited(70), withdrawn(20)]), { status: 'open', owner: 'alice', balance: 50 })
  t.strictSame(fold(account, [opened(), deposited(70), withdrawn(70), closed()]), { status: 'closed', owner: 'alice' })
  function * generated (): Generator<AccountEvent> {
    yield opened('dora')
    yield deposited(3)
  }
  t.strictSame(fold(account, generated()), { status: 'open', owner: 'dora', balance: 3 }, 'a generator is folded too')
  const first = fold(account, [])
  const second = fold(account, [])
  t.not(first, second, 'each fold starts from a fresh initial state')
})

// ---------------------------------------------------------------------------
// Pure: properties of the sample decider
// ---------------------------------------------------------------------------

t.test('random command sequences never break the account invariant', async (t) => {
  const details = fc.check(fc.property(fc.oneof(sessionArbitrary, fc.array(commandArbitrary, { maxLength: 30 })), (commands) => {
    const { steps, history } = runInMemory(commands)
    for (const step of steps) {
      assert.ok(stateIsValid(step.after), `invalid state ${JSON.stringify(step.after)} after ${JSON.stringify(step.command)}`)
    }
    assert.ok(historyIsValid(history), `invalid history ${JSON.stringify(history)}`)
  }), { numRuns: 500 })
  verdict(t, details,
    '500 random sequences kept 0 <= balance <= cap, opened-first and nothing-after-closed, and rejected only with domain errors')
})

t.test('folding all events at once equals folding them one by one', async (t) => {
  const details = fc.check(fc.property(sessionArbitrary, fc.nat(), (commands, cut) => {
    const { history, state } = runInMemory(commands)
    let incremental = account.initialState()
    for (let i = 0; i < history.length; i++) {
      incremental = account.evolve(incremental, history[i]!)
      assert.deepStrictEqual(fold(account, history.slice(0, i + 1)), incremental, `after event ${i}`)
    }
    assert.deepStrictEqual(fold(account, history), incremental)
    assert.deepStrictEqual(fold(account, history), state, 'the state decide/evolve reached')
    const split = cut % (history.length + 1)
    const resumed = history.slice(split).reduce((s, e) => account.evolve(s, e), fold(account, history.slice(0, split)))
    assert.deepStrictEqual(resumed, fold(account, history), `resuming a fold from a prefix of ${split} events`)
  }), { numRuns: 300 })
  verdict(t, details, 'fold(all) equals evolve applied event by event, and a fold resumed from any prefix')
})

t.test('every rejected command leaves the state unchanged, and decide never mutates the state', async (t) => {
  let rejected = 0
  const details = fc.check(fc.property(sessionArbitrary, commandArbitrary, (commands, extra) => {
    const { state, history } = runInMemory(commands)
    const snapshot = structuredClone(state)
    let outcome: AccountEvent[] | undefined
    try {
      outcome = account.decide(extra, Object.freeze(state), TEST_CONTEXT)
    } catch (error) {
      assert.ok(error instanceof LedgerlineError, `a rejection is a domain error, got ${String(error)}`)
      rejected++
    }
    assert.deepStrictEqual(state, snapshot, 'decide left the state as it found it')
    assert.deepStrictEqual(fold(account, history), snapshot, 'the history folds to the same state')
    if (outcome === undefined) {
      const { state: after } = runInMemory([...commands, extra])
      assert.deepStrictEqual(after, snapshot, 'after the rejected command the state is the one before it')
    }
  }), { numRuns: 500 })
  verdict(t, details, 'rejections changed nothing')
  t.ok(rejected > 50, `the generator produced rejections to check (${rejected} of 500)`)
})

// ---------------------------------------------------------------------------
// handleCommand against the PostgreSQL event store
// ---------------------------------------------------------------------------

/** A StateCache over a Map the test can look into. */
function mapCache (): { entries: Map<string, { version: bigint, state: unknown }>, cache: StateCache } {
  const entries = new Map<string, { version: bigint, state: unknown }>()
  return { entries, cache: { get: (id) => entries.get(id), set: (id, entry) => { entries.set(id, entry) } } }
}

t.test('handleCommand against the PostgreSQL event store', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = createPostgresEventStore(sql, registry)
    t.teardown(() => store.close())

    /**
     * Rows in this test's own database. Not headPosition(): readers only see
     * transactions below the cluster-wide xmin, so another session's open
     * transaction on a shared server can hide a fresh append for a while.
     */
    async function eventsInLog (): Promise<number> {
      const { rows } = await sql.query<{ n: string }>('SELECT count(*)::text AS n FROM events')
      return Number(rows[0]!.n)
    }

    async function eventsOfCommand (streamId: string, commandId: string): Promise<RecordedEvent[]> {
      return (await store.readStream(streamId)).filter((event) => event.metadata.commandId === commandId)
    }

    await t.test('decides, evolves and appends; the stream read back folds to the returned state', async (t) => {
      const streamId = newStream()
      const first = await handleCommand(store, account, streamId, { type: 'open', owner: 'alice', initialDeposit: 500 }, commandMetadata())
      t.strictSame(first.events, [opened('alice', new Date('2026-03-01T12:00:00.000Z')), deposited(500)], 'the decided events are returned')
      t.strictSame(first.state, { status: 'open', owner: 'alice', balance: 500 })
      t.equal(first.version, 2n)
      t.equal(first.replayed, false)
      t.equal(first.streamId, streamId)

      const second = await handleCommand(store, account, streamId, { type: 'deposit', amount: 250 }, commandMetadata())
      t.strictSame(second.state, { status: 'open', owner: 'alice', balance: 750 }, 'the next command is decided on the folded stream')
      t.equal(second.version, 3n)

      const recorded = await store.readStream(streamId)
      t.strictSame(recorded.map((event) => event.type), ['account.opened', 'account.deposited', 'account.deposited'])
      t.strictSame(recorded.map((event) => event.streamVersion), [1n, 2n, 3n])
      t.strictSame(fold(account, recorded.map(asDomain)), second.state, 'folding the stored events gives the returned state')
      t.strictSame(first.position, recorded[1]!.position, 'the position is where the last event of the command landed')
      t.strictSame(second.position, recorded[2]!.position)

      const refused = await handleCommand(store, account, streamId, { type: 'withdraw', amount: 751 }, commandMetadata())
        .catch((e: unknown) => e)
      t.ok(refused instanceof InsufficientFunds, 'a domain error from decide reaches the caller as it was thrown')
      t.strictSame((refused as InsufficientFunds).details, { balance: 750, amount: 751 })
      t.equal(await store.streamVersion(streamId), 3n, 'and nothing was appended')
    })

    await t.test('appends with the version the state was read at', async (t) => {
      const streamId = newStream()
      const spied = spyOn(store)
      await handleCommand(spied.store, account, streamId, { type: 'open', owner: 'alice', initialDeposit: 10 }, commandMetadata())
      await handleCommand(spied.store, account, streamId, { type: 'deposit', amount: 5 }, commandMetadata())
      await handleCommand(spied.store, account, streamId, { type: 'withdraw', amount: 3 }, commandMetadata())
      t.strictSame(spied.reads, [0, 2, 3], 'each command read the whole stream')
      t.strictSame(spied.appends.map((call) => call.expectedVersion), [0n, 2n, 3n], 'and appended expecting exactly that many events')
    })

    await t.test('a conflict is retried against the fresh state and succeeds', async (t) => {
      const streamId = newStream()
      await handleCommand(store, account, streamId, { type: 'open', owner: 'alice', initialDeposit: 100 }, commandMetadata())
      const rival = commandMetadata({ actor: { type: 'user', id: 'user-bob' } })
      const spied = spyOn(store, {
        // a concurrent writer gets in between our read and our append, once
        before: async (attempt) => {
          if (attempt === 0) await handleCommand(store, account, streamId, { type: 'deposit', amount: 30 }, rival)
        }
      })
      const ours = commandMetadata()
      const result = await handleCommand(spied.store, account, streamId, { type: 'withdraw', amount: 50 }, ours)
      t.strictSame(spied.appends.map((call) => call.expectedVersion), [2n, 3n], 'the retry expected the fresh version')
      t.strictSame(spied.reads, [2, 3], 'and re-read the stream')
      t.strictSame(spied.appends[1]!.ids, spied.appends[0]!.ids, 'the retry appended the same event ids')
      t.strictSame(result.state, { status: 'open', owner: 'alice', balance: 80 }, 'the state includes the rival deposit')
      t.equal(result.version, 4n)
      const recorded = await store.readStream(streamId)
      t.strictSame(recorded.map(asDomain).slice(2), [deposited(30), withdrawn(50)], 'both writes landed, the rival first')
      t.strictSame(recorded[3]!.metadata.commandId, ours.commandId)
    })

    await t.test('a retry decides again: the fresh state may refuse the command', async (t) => {
      const streamId = newStream()
      await handleCommand(store, account, streamId, { type: 'open', owner: 'alice', initialDeposit: 100 }, commandMetadata())
      const spied = spyOn(store, {
        before: async (attempt) => {
          if (attempt === 0) await handleCommand(store, account, streamId, { type: 'withdraw', amount: 80 }, commandMetadata())
        }
      })
      const ours = commandMetadata()
      const error = await handleCommand(spied.store, account, streamId, { type: 'withdraw', amount: 50 }, ours).catch((e: unknown) => e)
      t.equal(codeOf(error), 'account.insufficient_funds', 'the retry saw the balance of 20')
      t.equal(spied.appends.length, 1, 'no second append was tried')
      t.strictSame(await eventsOfCommand(streamId, ours.commandId), [], 'nothing of ours was written')
    })

    await t.test('up to 3 conflicts are retried; the 4th surfaces as WrongExpectedVersion', async (t) => {
      async function contested (conflicts: number, maxRetries?: number) {
        const streamId = newStream()
        await handleCommand(store, account, streamId, { type: 'open', owner: 'alice' }, commandMetadata())
        const spied = spyOn(store, {
          before: async (attempt) => {
            if (attempt < conflicts) await handleCommand(store, account, streamId, { type: 'deposit', amount: 1 }, commandMetadata())
          }
        })
        const ours = commandMetadata()
        const outcome = await handleCommand(spied.store, account, streamId, { type: 'deposit', amount: 10 }, ours,
          maxRetries === undefined ? {} : { maxRetries })
          .catch((e: unknown) => e)
        return { outcome, spied, streamId, ours }
      }

      const three = await contested(3)
      t.notOk(three.outcome instanceof Error, 'three conflicts in a row: the fourth attempt succeeds')
      t.strictSame(three.spied.appends.map((call) => call.expectedVersion), [1n, 2n, 3n, 4n])
      t.strictSame((three.outcome as { state: AccountState }).state, { status: 'open', owner: 'alice', balance: 13 })

      const four = await contested(4)
      t.ok(four.outcome instanceof WrongExpectedVersion, 'four conflicts in a row: the conflict surfaces')
      const error = four.outcome as WrongExpectedVersion
      t.equal(error.code, 'store.wrong_expected_version')
      t.equal(error.status, 409)
      t.equal(error.streamId, four.streamId)
      t.equal(error.expected, '4')
      t.equal(error.actual, 5n)
      t.equal(four.spied.appends.length, 4, 'one attempt and three retries')
      t.strictSame(await eventsOfCommand(four.streamId, four.ours.commandId), [], 'nothing of ours was written')

      const none = await contested(1, 0)
      t.ok(none.outcome instanceof WrongExpectedVersion, 'maxRetries: 0 surfaces the first conflict')
      t.equal(none.spied.appends.length, 1)

      const more = await contested(5, 5)
      t.notOk(more.outcome instanceof Error, 'maxRetries: 5 rides out five conflicts')
      t.equal(more.spied.appends.length, 6)
    })

    await t.test('errors other than a conflict are not retried', async (t) => {
      const streamId = newStream()
      const spied = spyOn(store, { before: async () => { throw new StoreUnavailable('the event store database is unreachable') } })
      const error = await handleCommand(spied.store, account, streamId, { type: 'open', owner: 'alice' }, commandMetadata())
        .catch((e: unknown) => e)
      t.ok(error instanceof StoreUnavailable)
      t.equal(spied.appends.length, 1)
    })

    await t.test('event ids are UUIDv5 of the command id and the event index', async (t) => {
      const streamId = newStream()
      const metadata = commandMetadata({ commandId: '3d6f4e1a-9b2c-4d8e-a7f1-0c5b6a4d3e2f' })
      await handleCommand(store, account, streamId, { type: 'open', owner: 'alice', initialDeposit: 40 }, metadata)
      const recorded = await store.readStream(streamId)
      t.strictSame(recorded.map((event) => event.id), [eventIdFor(metadata.commandId, 0), eventIdFor(metadata.commandId, 1)])
      t.strictSame(recorded.map((event) => event.metadata.eventId), recorded.map((event) => event.id), 'metadata.eventId is the event id')
      t.not(recorded[0]!.id, recorded[1]!.id)

      const again = newStream()
      await handleCommand(store, account, again, { type: 'open', owner: 'alice', initialDeposit: 40 }, commandMetadata())
      const other = await store.readStream(again)
      t.not(other[0]!.id, recorded[0]!.id, 'another command id gives other event ids')
    })

    await t.test('retrying a command id returns its first outcome and writes nothing new', async (t) => {
      const streamId = newStream()
      const openCommand = commandMetadata()
      const first = await handleCommand(store, account, streamId, { type: 'open', owner: 'alice', initialDeposit: 500 }, openCommand)
      const replay = await handleCommand(store, account, streamId, { type: 'open', owner: 'alice', initialDeposit: 500 }, openCommand)
      t.equal(replay.replayed, true)
      t.strictSame({ ...replay, replayed: false }, first, 'right after: the whole first outcome')

      await handleCommand(store, account, streamId, { type: 'withdraw', amount: 100 }, commandMetadata())
      const logged = await eventsInLog()
      // Deciding again would throw AccountAlreadyOpen: a replay must not decide at all.
      const late = await handleCommand(store, account, streamId, { type: 'open', owner: 'alice', initialDeposit: 500 }, openCommand)
      t.equal(late.replayed, true, 'later, after another command: still a replay')
      t.strictSame(late.events, first.events, 'the first events')
      t.strictSame(late.position, first.position, 'where they landed')
      t.equal(await store.streamVersion(streamId), 3n, 'nothing new in the stream')
      t.equal(await eventsInLog(), logged, 'nothing new in the log')
      t.equal((await eventsOfCommand(streamId, openCommand.commandId)).length, 2)
    })

    await t.test('a command whose response was lost is replayed when the client retries it', async (t) => {
      const streamId = newStream()
      const metadata = commandMetadata()
      const flaky = spyOn(store, { after: async () => { throw new StoreUnavailable('connection lost after commit') } })
      const lost = await handleCommand(flaky.store, account, streamId, { type: 'open', owner: 'alice', initialDeposit: 5 }, metadata)
        .catch((e: unknown) => e)
      t.ok(lost instanceof StoreUnavailable, 'the caller saw a failure')
      t.equal(await store.streamVersion(streamId), 2n, 'though the events were committed')
      const retried = await handleCommand(store, account, streamId, { type: 'open', owner: 'alice', initialDeposit: 5 }, metadata)
      t.equal(retried.replayed, true)
      t.strictSame(retried.state, { status: 'open', owner: 'alice', balance: 5 })
      t.equal(await store.streamVersion(streamId), 2n, 'the retry wrote nothing')
    })

    await t.test('with a state cache, a command decides on the cached state unread, and the outcome is the same', async (t) => {
      const streamId = newStream()
      const { entries, cache } = mapCache()
      const spied = spyOn(store)
      await handleCommand(spied.store, account, streamId,
        { type: 'open', owner: 'alice', initialDeposit: 10 }, commandMetadata(), { cache })
      await handleCommand(spied.store, account, streamId, { type: 'deposit', amount: 5 }, commandMetadata(), { cache })
      t.strictSame(spied.reads, [0], 'the second command read nothing: the cached state was the latest')
      t.strictSame(spied.appends.map((call) => call.expectedVersion), [0n, 2n])

      await handleCommand(store, account, streamId, { type: 'deposit', amount: 7 }, commandMetadata()) // another process, cache unaware
      const deposit = await handleCommand(spied.store, account, streamId, { type: 'deposit', amount: 1 }, commandMetadata(), { cache })
      t.strictSame(spied.appends.map((call) => call.expectedVersion).slice(2), [3n, 4n],
        'the unread state was stale: the append was refused, then made on the fresh one')
      t.strictSame(spied.reads.slice(1), [1], 'reading only the event it missed')
      t.strictSame(deposit.state, { status: 'open', owner: 'alice', balance: 23 })

      await handleCommand(store, account, streamId, { type: 'withdraw', amount: 20 }, commandMetadata()) // another process again
      const refused = await handleCommand(spied.store, account, streamId, { type: 'withdraw', amount: 5 }, commandMetadata(), { cache })
        .catch((e: unknown) => e)
      t.ok(refused instanceof InsufficientFunds, 'a refusal is judged on the latest state')
      t.strictSame(spied.reads.slice(2), [1, 6],
        'the stale append was refused, the event it missed read, and the whole stream read before the refusal counts')
      t.strictSame((refused as InsufficientFunds).details, { balance: 3, amount: 5 })
      t.strictSame(entries.get(streamId)?.version, 5n, 'the cache was not moved by a refusal')
    })

    await t.test('with a state cache, "nothing to do" is only answered after reading the whole stream', async (t) => {
      const streamId = newStream()
      const { cache } = mapCache()
      await handleCommand(store, account, streamId, { type: 'open', owner: 'alice' }, commandMetadata(), { cache })
      await handleCommand(store, account, streamId, { type: 'close' }, commandMetadata(), { cache })
      const spied = spyOn(store)
      const again = await handleCommand(spied.store, account, streamId, { type: 'close' }, commandMetadata(), { cache })
      t.strictSame(again.events, [], 'closing twice records nothing')
      t.strictSame(spied.reads, [2], 'but only after reading the whole stream (it could have been a retry)')
      t.strictSame(spied.appends, [])
    })

    await t.test('with a state cache, a command applied before the cached version is still a replay', async (t) => {
      const streamId = newStream()
      const { cache } = mapCache()
      const openCommand = commandMetadata()
      const first = await handleCommand(store, account, streamId,
        { type: 'open', owner: 'alice', initialDeposit: 50 }, openCommand, { cache })
      await handleCommand(store, account, streamId, { type: 'withdraw', amount: 50 }, commandMetadata(), { cache })
      const late = await handleCommand(store, account, streamId,
        { type: 'open', owner: 'alice', initialDeposit: 50 }, openCommand, { cache })
      t.equal(late.replayed, true, 'deciding against the cached state would have thrown AccountAlreadyOpen')
      t.strictSame(late.events, first.events)
      t.equal(await store.streamVersion(streamId), 3n, 'nothing new written')
      const withdraw = commandMetadata()
      const one = await handleCommand(store, account, streamId, { type: 'deposit', amount: 1 }, withdraw, { cache })
      const again = await handleCommand(store, account, streamId, { type: 'deposit', amount: 1 }, withdraw, { cache })
      t.equal(again.replayed, true, 'a replay found in the events since the cached version too')
      t.strictSame(again.position, one.position)
    })

    await t.test('expectNew: a new stream is decided on the initial state unread; an existing one as without it', async (t) => {
      const spied = spyOn(store)
      const fresh = newStream()
      const opened = await handleCommand(spied.store, account, fresh,
        { type: 'open', owner: 'alice', initialDeposit: 10 }, commandMetadata(), { expectNew: true })
      t.strictSame(spied.reads, [], 'nothing read for a stream that did not exist')
      t.strictSame(spied.appends.map((call) => call.expectedVersion), [0n], 'the append expected no stream')
      t.equal(opened.version, 2n)

      const existing = newStream()
      await handleCommand(store, account, existing, { type: 'open', owner: 'bob', initialDeposit: 5 }, commandMetadata())
      const refused = await handleCommand(spied.store, account, existing,
        { type: 'open', owner: 'bob', initialDeposit: 5 }, commandMetadata(), { expectNew: true }).catch((e: unknown) => e)
      t.ok(refused instanceof AccountAlreadyOpen, 'the stream existed: the refusal is judged on what it holds')
      t.strictSame(spied.reads, [2], 'the refused append sent it to read the whole stream')
      t.equal(await store.streamVersion(existing), 2n, 'nothing written to it')

      const metadata = commandMetadata()
      const replayStream = newStream()
      const first = await handleCommand(store, account, replayStream, { type: 'open', owner: 'carol', initialDeposit: 3 }, metadata)
      const again = await handleCommand(spied.store, account, replayStream,
        { type: 'open', owner: 'carol', initialDeposit: 3 }, metadata, { expectNew: true })
      t.equal(again.replayed, true, 'a command already applied is still a replay')
      t.strictSame(again.position, first.position)
      t.equal(await store.streamVersion(replayStream), 2n)

      const { entries, cache } = mapCache()
      const cached = newStream()
      await handleCommand(store, account, cached, { type: 'open', owner: 'dan', initialDeposit: 1 }, commandMetadata(), { cache })
      const deposit = await handleCommand(store, account, cached,
        { type: 'deposit', amount: 2 }, commandMetadata(), { cache, expectNew: true })
      t.equal(deposit.version, 3n, 'a cached state wins over expectNew')
      t.equal(entries.get(cached)?.version, 3n)
    })

    await t.test('two concurrent twins of one command write its events once', async (t) => {
      const streamId = newStream()
      const metadata = commandMetadata()
      const [a, b] = await Promise.all([
        handleCommand(store, account, streamId, { type: 'open', owner: 'alice', initialDeposit: 9 }, metadata),
        handleCommand(store, account, streamId, { type: 'open', owner: 'alice', initialDeposit: 9 }, metadata)
      ])
      t.strictSame(a.position, b.position, 'both report the same append')
      t.strictSame(a.state, b.state)
      t.equal(await store.streamVersion(streamId), 2n, 'the events are in the stream once')
    })

    await t.test('mustExist throws StreamNotFound on an empty stream and appends nothing', async (t) => {
      const streamId = newStream()
      const spied = spyOn(store)
      const error = await handleCommand(spied.store, account, streamId, { type: 'open', owner: 'alice' }, commandMetadata(),
        { mustExist: true })
        .catch((e: unknown) => e)
      t.ok(error instanceof StreamNotFound)
      t.equal(codeOf(error), 'store.stream_not_found')
      t.equal((error as StreamNotFound).streamId, streamId)
      t.equal((error as StreamNotFound).status, 404)
      t.equal(spied.appends.length, 0)
      t.equal(await store.streamVersion(streamId), 0n)

      await handleCommand(store, account, streamId, { type: 'open', owner: 'alice' }, commandMetadata())
      const result = await handleCommand(store, account, streamId, { type: 'deposit', amount: 7 }, commandMetadata(), { mustExist: true })
      t.equal(result.version, 2n, 'on a stream with events, mustExist changes nothing')
    })

    await t.test('a command that decides no events appends nothing', async (t) => {
      const streamId = newStream()
      await handleCommand(store, account, streamId, { type: 'open', owner: 'alice' }, commandMetadata())
      const closing = await handleCommand(store, account, streamId, { type: 'close' }, commandMetadata())
      t.equal(closing.version, 2n)
      const logged = await eventsInLog()
      const spied = spyOn(store)
      const result = await handleCommand(spied.store, account, streamId, { type: 'close' }, commandMetadata())
      t.strictSame(result.events, [])
      t.equal(result.version, 2n, 'the version is the one read')
      t.equal(result.position, undefined, 'no position: nothing landed')
      t.equal(result.replayed, false)
      t.strictSame(result.state, { status: 'closed', owner: 'alice' })
      t.equal(spied.appends.length, 0, 'append was not called')
      t.equal(await eventsInLog(), logged, 'nothing new in the log')
    })

    await t.test('the command metadata lands on every event', async (t) => {
      const streamId = newStream()
      const metadata = commandMetadata({
        now: new Date('2027-02-03T04:05:06.789Z'),
        actor: { type: 'ai', id: 'agent-7' },
        orgId: 'org-acme',
        impersonatorId: 'user-support',
        ip: '203.0.113.7',
        userAgent: 'ledgerline-test/1.0',
        requestId: 'req-42',
        causationId: 'cause-1',
        correlationId: 'corr-1'
      })
      await handleCommand(store, account, streamId, { type: 'open', owner: 'alice', initialDeposit: 5 }, metadata)
      const recorded = await store.readStream(streamId)
      t.equal(recorded.length, 2)
      for (const [index, event] of recorded.entries()) {
        t.strictSame(event.metadata, {
          eventId: eventIdFor(metadata.commandId, index),
          occurredAt: '2027-02-03T04:05:06.789Z',
          actor: { type: 'ai', id: 'agent-7' },
          traceId: metadata.traceId,
          commandId: metadata.commandId,
          orgId: 'org-acme',
          impersonatorId: 'user-support',
          ip: '203.0.113.7',
          userAgent: 'ledgerline-test/1.0',
          requestId: 'req-42',
          causationId: 'cause-1',
          correlationId: 'corr-1',
          schemaVersion: 1
        }, `event ${index} carries all of it, occurredAt from metadata.now`)
      }
      t.equal((recorded[0]!.data as { openedAt: string }).openedAt, '2027-02-03T04:05:06.789Z', 'decide saw metadata.now as its clock')

      const bare = commandMetadata()
      await handleCommand(store, account, streamId, { type: 'deposit', amount: 1 }, bare)
      const last = (await store.readStream(streamId)).at(-1)!
      t.strictSame(Object.keys(last.metadata).sort(), ['actor', 'commandId', 'eventId', 'occurredAt', 'schemaVersion', 'traceId'],
        'optional fields that were not set are absent')
    })

    await t.test('random command sequences end the same through the store as in memory; rejected ones write nothing', async (t) => {
      const context: DecisionContext = { now: new Date('2026-03-01T12:00:00.000Z'), actor: { type: 'user', id: 'user-alice' } }
      const details = await fc.check(fc.asyncProperty(fc.array(commandArbitrary, { maxLength: 8 }), async (commands) => {
        const streamId = newStream()
        const model = runInMemory(commands, context)
        for (const step of model.steps) {
          const before = await store.streamVersion(streamId)
          const outcome = await handleCommand(store, account, streamId, step.command, commandMetadata()).catch((e: unknown) => e)
          if (step.outcome instanceof LedgerlineError) {
            assert.equal(codeOf(outcome), step.outcome.code, `${JSON.stringify(step.command)} is rejected alike`)
            assert.equal(await store.streamVersion(streamId), before, 'a rejected command appended nothing')
          } else {
            const result = outcome as { events: AccountEvent[], state: AccountState, version: bigint }
            assert.deepStrictEqual(result.events, step.outcome)
            assert.deepStrictEqual(result.state, step.after)
            assert.equal(result.version, before + BigInt(step.outcome.length))
          }
        }
        assert.deepStrictEqual(fold(account, (await store.readStream(streamId)).map(asDomain)), model.state)
      }), { numRuns: 20 })
      verdict(t, details, '20 random sequences, each through handleCommand and the store, matched the in-memory model')
    })

    // Regression (decider.ts once did this): handleCommand evolves the decided events with
    // `decided.reduce(decider.evolve, state)`, which calls evolve detached from
    // its decider (this === undefined). A class-based decider whose evolve uses
    // `this` throws a TypeError AFTER its events were committed: the caller gets
    // a 500 for a command that took effect. fold() calls it as a method and works.
    await t.test('a class-based decider whose evolve uses this works through handleCommand', async (t) => {
      class AccountAggregate implements Decider<AccountCommand, AccountEvent, AccountState> {
        readonly #rules = account
        initialState (): AccountState { return this.#rules.initialState() }
        decide (command: AccountCommand, state: AccountState, context: DecisionContext): AccountEvent[] {
          return this.#rules.decide(command, state, context)
        }
        evolve (state: AccountState, event: AccountEvent): AccountState { return this.#rules.evolve(state, event) }
      }
      const aggregate = new AccountAggregate()
      t.strictSame(fold(aggregate, [opened(), deposited(3)]), { status: 'open', owner: 'alice', balance: 3 }, 'fold works with it')
      const streamId = newStream()
      const outcome = await handleCommand(store, aggregate, streamId, { type: 'open', owner: 'alice', initialDeposit: 3 },
        commandMetadata())
        .catch((e: unknown) => e)
      t.notOk(outcome instanceof Error,
        `handleCommand succeeds (got ${outcome instanceof Error ? `${outcome.name}: ${outcome.message}` : 'a result'})`)
      t.equal(await store.streamVersion(streamId), 2n, 'the events are in the store either way')
    })

    // Regression (postgres.ts readStream / decider.ts once did this): readStream without a limit
    // returns at most 10,000 events (pageSize(undefined, MAX_SAFE_INTEGER) caps
    // at MAX_PAGE), and handleCommand reads the stream once and takes
    // history.length as the version. On a stream of more than 10,000 events it
    // folds a truncated state and appends expecting version 10000: every attempt
    // conflicts and the command fails with WrongExpectedVersion, forever.
    await t.test('a command on a stream of more than 10,000 events is decided on all of them', async (t) => {
      const streamId = newStream()
      await handleCommand(store, account, streamId, { type: 'open', owner: 'alice' }, commandMetadata())
      const bulk = commandMetadata()
      const deposits = Array.from({ length: 10_000 }, (_, index): NewEvent => {
        const metadata = metadataFor(bulk, index)
        return { id: metadata.eventId, type: 'account.deposited', data: { amount: 1 }, metadata }
      })
      await store.append(streamId, deposits.slice(0, 9_999), { expectedVersion: 1n })
      await store.append(streamId, deposits.slice(9_999), { expectedVersion: 10_000n })
      t.equal(await store.streamVersion(streamId), 10_001n, 'the stream holds 10,001 events, balance 10,000')
      const outcome = await handleCommand(store, account, streamId, { type: 'withdraw', amount: 1 }, commandMetadata(), { maxRetries: 1 })
        .catch((e: unknown) => e)
      t.notOk(outcome instanceof Error,
        `the withdrawal succeeds (got ${outcome instanceof Error ? `${outcome.name}: ${outcome.message}` : 'a result'})`)
      if (!(outcome instanceof Error)) {
        const result = outcome as { version: bigint, state: AccountState }
        t.equal(result.version, 10_002n)
        t.strictSame(result.state, { status: 'open', owner: 'alice', balance: 9_999 })
      }
    })
  })
})
