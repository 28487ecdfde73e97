/**
 * The curl examples in docs/ run as written, against a real listening server,
 * on each database. Every ```sh block of a page runs in one bash session, in
 * order, so a variable one block sets is there for the next; the test sets
 * LL (the server's address), TOKEN (an owner's API token) and ORG (their
 * organization). A ```json block right after a ```sh block is the answer the
 * block's last request must give: each key shown must be there with that
 * value; "…" stands for any value, a string with "…" in it for any middle,
 * and "…" as an array's last item for "and possibly more".
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { CONDITION_EXAMPLES } from '../src/domain/rbac/condition-examples.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { openTestApp } from './helpers/app.ts'

export interface Example { readonly line: number, readonly code: string, readonly expected?: unknown }

/** The ```sh blocks of a markdown page, each with the ```json answer that follows it, if any. */
export function examplesOf (markdown: string): Example[] {
  const fence = /^```(\w*)\n([\s\S]*?)^```$/gm
  const blocks: Array<{ lang: string, body: string, start: number, end: number }> = []
  for (let match = fence.exec(markdown); match !== null; match = fence.exec(markdown)) {
    blocks.push({ lang: match[1]!, body: match[2]!, start: match.index, end: match.index + match[0].length })
  }
  const examples: Example[] = []
  blocks.forEach((block, i) => {
    if (block.lang !== 'sh') return
    const next = blocks[i + 1]
    const adjacent = next !== undefined && next.lang === 'json' && markdown.slice(block.end, next.start).trim() === ''
    const line = markdown.slice(0, block.start).split('\n').length
    examples.push({ line, code: block.body, ...(adjacent ? { expected: JSON.parse(next.body) as unknown } : {}) })
  })
  return examples
}

/** Where `actual` differs from the pattern `expected` (see the header), or undefined. */
export function mismatch (actual: unknown, expected: unknown, path = '$'): string | undefined {
  if (expected === '…') return undefined
  if (typeof expected === 'string' && expected.includes('…') && typeof actual === 'string') {
    const [head, tail] = [expected.slice(0, expected.indexOf('…')), expected.slice(expected.indexOf('…') + 1)]
    return actual.startsWith(head) && actual.endsWith(tail) && actual.length >= head.length + tail.length ? undefined
      : `${path}: ${JSON.stringify(actual)} is not ${JSON.stringify(expected)}`
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: not an array`
    const open = expected.at(-1) === '…'
    const items = open ? expected.slice(0, -1) : expected
    if (open ? actual.length < items.length
      : actual.length !== items.length) return `${path}: ${actual.length} items, expected ${open ? 'at least ' : ''}${items.length}`
    for (const [i, item] of items.entries()) {
      const found = mismatch(actual[i], item, `${path}[${i}]`)
      if (found !== undefined) return found
    }
    return undefined
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return `${path}: not an object`
    for (const [key, value] of Object.entries(expected)) {
      if (!Object.hasOwn(actual, key)) return `${path}.${key}: missing`
      const found = mismatch((actual as Record<string, unknown>)[key], value, `${path}.${key}`)
      if (found !== undefined) return found
    }
    return undefined
  }
  return Object.is(actual, expected) ? undefined : `${path}: ${JSON.stringify(actual)} is not ${JSON.stringify(expected)}`
}

/** The last JSON document a block printed (curl prints bodies without a newline). */
function lastJson (output: string): unknown {
  const text = output.trim()
  for (let start = text.lastIndexOf('{'); start >= 0; start = text.lastIndexOf('{', start - 1)) {
    try {
      return JSON.parse(text.slice(start))
    } catch { /* an inner brace: keep looking left */ }
  }
  return JSON.parse(text)
}

t.test('the example matcher', async (t) => {
  t.equal(mismatch({ a: 1, b: 'x' }, { a: 1 }), undefined)
  t.match(mismatch({ a: 2 }, { a: 1 }), /\$\.a/)
  t.equal(mismatch({ token: 'll_abc_def' }, { token: 'll_…' }), undefined)
  t.match(mismatch({ token: 'xx' }, { token: 'll_…' }), /token/)
  t.equal(mismatch([1, 2, 3], [1, '…']), undefined)
  t.match(mismatch([1, 2, 3], [1, 2]), /3 items/)
  t.match(mismatch({}, { code: 'x' }), /missing/)
  t.same(examplesOf('text\n```sh\ncurl x\n```\n\n```json\n{"a": 1}\n```\n```sh\necho\n```\n'), [
    { line: 2, code: 'curl x\n', expected: { a: 1 } },
    { line: 9, code: 'echo\n' }
  ])
})

t.test('docs/roles.md shows every operator\'s example exactly as the tests run it', async (t) => {
  const page = readFileSync(new URL('../docs/roles.md', import.meta.url), 'utf8')
  for (const example of CONDITION_EXAMPLES) {
    t.ok(page.includes(`| \`${example.operator}\` |`), `${example.operator} has a row`)
    t.ok(page.includes(`\`${JSON.stringify(example.condition)}\``), `${example.operator}: ${JSON.stringify(example.condition)}`)
  }
})

const PAGES = ['docs/api.md', 'docs/audit.md'].filter((page) => existsSync(new URL(`../${page}`, import.meta.url)))

void forEachDatabase(t, async (t, db) => {
  const { app, owner } = await openTestApp(t, db.sql)
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  for (const page of PAGES) {
    await t.test(page, async (t) => {
      const examples = examplesOf(readFileSync(new URL(`../${page}`, import.meta.url), 'utf8'))
      t.ok(examples.length > 0, 'the page has examples')
      const dir = mkdtempSync(join(tmpdir(), 'ledgerline-docs-'))
      t.teardown(() => rmSync(dir, { recursive: true, force: true }))
      const script = ['set -euo pipefail',
        ...examples.map((example, i) => `{\n${example.code}\n} > ${join(dir, `${i}.out`)} 2> ${join(dir, `${i}.err`)}`)].join('\n')
      writeFileSync(join(dir, 'run.sh'), script)
      // The server answers in this process, so the script runs beside it, never blocking it.
      const run = await new Promise<{ status: number | null, stderr: string }>((resolve) => {
        const child = spawn('bash', [join(dir, 'run.sh')],
          { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir, LL: address, TOKEN: owner.token, ORG: owner.orgId } })
        let stderr = ''
        child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
        const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
        child.on('close', (status) => { clearTimeout(timer); resolve({ status, stderr }) })
      })
      examples.forEach((example, i) => {
        const outFile = join(dir, `${i}.out`)
        if (!existsSync(outFile)) return
        const output = readFileSync(outFile, 'utf8')
        const stderr = readFileSync(join(dir, `${i}.err`), 'utf8')
        if (example.expected === undefined) return
        let actual: unknown
        try {
          actual = lastJson(output)
        } catch {
          t.fail(`${page}:${example.line}: the example printed no JSON: ${output.slice(0, 300)} ${stderr.slice(0, 300)}`)
          return
        }
        const found = mismatch(actual, example.expected)
        t.equal(found, undefined,
          `${page}:${example.line} answers as shown${found === undefined ? '' : `: ${JSON.stringify(actual).slice(0, 600)}`}`)
      })
      const ran = examples.filter((_, i) => existsSync(join(dir, `${i}.out`))).length
      t.equal(run.status, 0, `every example ran (${ran} of ${examples.length} started): ${run.stderr}`)
    })
  }
})
