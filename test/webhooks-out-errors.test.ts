/**
 * The webhooks' error codes: each declared once, whichever side (inbound or
 * outbound) throws it, so a client reading `code` meets one meaning and the
 * HTTP and CLI layers one class.
 */
import { readdir, readFile } from 'node:fs/promises'
import t from 'tap'
import { MessageNotFound } from '../src/domain/webhooks/endpoint-errors.ts'
import { WebhookMessageNotFound } from '../src/domain/webhooks/inbound-errors.ts'

const DIR = new URL('../src/domain/webhooks/', import.meta.url)

t.test('every webhook error code is declared once across the inbound and outbound error files', async (t) => {
  const files = (await readdir(DIR)).filter((name) => name.endsWith('errors.ts'))
  t.ok(files.length >= 2, files.join(', '))
  const declared = new Map<string, string[]>()
  for (const file of files) {
    const text = await readFile(new URL(file, DIR), 'utf8')
    for (const [, code] of text.matchAll(/domainError\('([^']+)'/g)) declared.set(code!, [...declared.get(code!) ?? [], file])
  }
  t.ok(declared.size > 5, 'the files were read')
  t.same([...declared].filter(([, where]) => where.length > 1), [], 'no code declared twice')
})

t.test('a message not found inbound and outbound is the same class, code and status', async (t) => {
  const inbound = new WebhookMessageNotFound(undefined, { streamId: 'whin-x' })
  t.ok(inbound instanceof MessageNotFound)
  t.match(inbound, { code: 'webhook.message_not_found', status: 404 })
  t.match(new MessageNotFound(), { code: 'webhook.message_not_found', status: 404 })
})
