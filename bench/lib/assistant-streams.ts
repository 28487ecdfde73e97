/**
 * The client of bench:assistant: one SSE reader (fetch and a line parser, nothing else) used alike for the
 * upstream read directly (OpenAI's chunks) and for Ledgerline's stream (the UI message stream parts), so the two
 * contenders differ only in what sits between the client and the fake upstream. Every scripted text chunk carries
 * a marker with its index (`‹12›`), so a chunk is recognised on arrival even when a relay merges or splits the
 * deltas, and its arrival is paired with the time the fake upstream wrote it (the same process's clock).
 */

/** The text of chunk `index`: its marker and a word, about the size of a model's token or two. */
export function markedChunk (index: number): string {
  return `‹${index}› w`
}

const MARKER = /‹(\d+)›/g

/** When each marked chunk arrived, by index; and when the request started. */
export interface Arrivals {
  readonly startedAt: number
  readonly at: Map<number, number>
  /** Every text delta received, in order (to check the text arrived whole). */
  readonly text: string[]
}

/** Which text a `data:` line carries, for one protocol; undefined for the lines without text. */
export type TextOf = (data: string) => string | undefined

/** OpenAI's Chat Completions chunks: the content delta. */
export const upstreamText: TextOf = (data) => {
  if (data === '[DONE]') return undefined
  const chunk = JSON.parse(data) as { choices?: Array<{ delta?: { content?: string | null } }> }
  return chunk.choices?.[0]?.delta?.content ?? undefined
}

/** The UI message stream protocol: the `text-delta` parts; an `error` part fails the run. */
export const uiStreamText: TextOf = (data) => {
  if (data === '[DONE]') return undefined
  const part = JSON.parse(data) as { type: string, delta?: string, errorText?: string }
  if (part.type === 'error') throw new Error(`the stream answered an error part: ${part.errorText ?? ''}`)
  return part.type === 'text-delta' ? part.delta : undefined
}

/** POSTs `body` to `url` and reads the SSE answer to its end, noting when each marked chunk arrived. */
export async function readStream (
  url: string, headers: Record<string, string>, body: unknown, textOf: TextOf
): Promise<Arrivals> {
  const arrivals: Arrivals = { startedAt: performance.now(), at: new Map(), text: [] }
  const response = await fetch(url, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body)
  })
  if (response.status !== 200 || response.body === null) {
    throw new Error(`POST ${url} answered ${response.status}: ${await response.text()}`)
  }
  const decoder = new TextDecoder()
  let buffered = ''
  for await (const bytes of response.body) {
    const now = performance.now()
    buffered += decoder.decode(bytes as Uint8Array, { stream: true })
    let end = buffered.indexOf('\n\n')
    while (end !== -1) {
      note(arrivals, buffered.slice(0, end), now, textOf)
      buffered = buffered.slice(end + 2)
      end = buffered.indexOf('\n\n')
    }
  }
  return arrivals
}

function note (arrivals: Arrivals, event: string, now: number, textOf: TextOf): void {
  for (const line of event.split('\n')) {
    if (!line.startsWith('data:')) continue
    const text = textOf(line.slice(5).trimStart())
    if (text === undefined || text === '') continue
    arrivals.text.push(text)
    for (const match of text.matchAll(MARKER)) {
      const index = Number(match[1])
      if (!arrivals.at.has(index)) arrivals.at.set(index, now)
    }
  }
}

/** Each chunk's delay from the fake's write to its arrival, in ms; throws unless every chunk arrived, whole and in order. */
export function relayDelays (arrivals: Arrivals, sentAt: readonly number[], chunks: number): number[] {
  const expected = Array.from({ length: chunks }, (_, index) => markedChunk(index)).join('')
  const received = arrivals.text.join('')
  if (received !== expected) throw new Error(`the text arrived altered (${received.length} of ${expected.length} characters)`)
  return Array.from({ length: chunks }, (_, index) => {
    const arrived = arrivals.at.get(index)
    const sent = sentAt[index]
    if (arrived === undefined || sent === undefined) throw new Error(`chunk ${index} was not sent or did not arrive`)
    return arrived - sent
  })
}

/** From the request's start to the first marked chunk, in ms. */
export function firstToken (arrivals: Arrivals): number {
  const first = arrivals.at.get(0)
  if (first === undefined) throw new Error('the first chunk did not arrive')
  return first - arrivals.startedAt
}
