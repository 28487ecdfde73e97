/**
 * What a handler's error means: which errors say "do not retry", and the
 * code and message a failure is recorded with; the registry refuses a type
 * twice and a malformed type; the effect's command id is the same on every
 * attempt of a job and differs between jobs and effects.
 */
import t from 'tap'
import { z } from 'zod'
import { failureOf, isPermanent, jobCommand, JobHandlers, PermanentJobError } from './handlers.ts'

t.test('"do not retry": a permanent flag, retryable false, or a code such as http.410', async (t) => {
  t.ok(isPermanent(new PermanentJobError('gone')))
  t.ok(isPermanent(Object.assign(new Error('x'), { permanent: true })))
  t.ok(isPermanent(Object.assign(new Error('x'), { retryable: false })))
  t.ok(isPermanent(Object.assign(new Error('Gone'), { code: 'http.410' })))
  t.notOk(isPermanent(Object.assign(new Error('unavailable'), { code: 'http.503' })))
  t.notOk(isPermanent(new Error('plain')))
  t.notOk(isPermanent('a string'))
  t.notOk(isPermanent(null))
})

t.test('a failure keeps a stable code of the error, else job.handler_failed; messages are cut at 1000 characters', async (t) => {
  t.same(failureOf(Object.assign(new Error('down'), { code: 'http.503' })), { code: 'http.503', message: 'down' })
  t.same(failureOf(Object.assign(new Error('x'), { code: 'ECONNRESET' })), { code: 'job.handler_failed', message: 'x' })
  t.same(failureOf('text'), { code: 'job.handler_failed', message: 'text' })
  t.equal(failureOf(new Error('y'.repeat(5000))).message.length, 1000)
})

t.test('the registry: one handler per type, types as the job events spell them', async (t) => {
  const handlers = new JobHandlers()
  handlers.register({ type: 'webhook.deliver', payload: z.object({}), async handle () {} })
  t.same(handlers.types, ['webhook.deliver'])
  t.throws(() => handlers.register({ type: 'webhook.deliver', payload: z.object({}), async handle () {} }), /registered already/)
  t.throws(() => handlers.register({ type: 'Bad Type', payload: z.object({}), async handle () {} }))
  t.equal(handlers.get('other'), undefined)
})

t.test('an effect\'s command id depends on the job and the effect only', async (t) => {
  const now = new Date()
  t.equal(jobCommand('j1', 'effect', now).commandId, jobCommand('j1', 'effect', new Date(0)).commandId)
  t.not(jobCommand('j1', 'effect', now).commandId, jobCommand('j2', 'effect', now).commandId)
  t.not(jobCommand('j1', 'effect', now).commandId, jobCommand('j1', 'other', now).commandId)
})
