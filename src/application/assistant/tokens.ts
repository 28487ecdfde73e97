/**
 * Our estimate of a response's tokens, for when the provider sends no usage
 * (an aborted stream, a server that does not report it). Counted with the
 * model's own tokenizer where gpt-tokenizer knows the model (cl100k for the
 * GPT-4 and 3.5 families), o200k otherwise: every newer OpenAI model uses it,
 * and for another vendor's model it is as good a guess as any.
 *
 * Each encoding's tables take a few hundred milliseconds to load, so one is
 * loaded on its first use (most responses carry the provider's figures and
 * never need it), not when the server starts.
 */
import { createRequire } from 'node:module'
import type { modelToEncodingMap as EncodingMap } from 'gpt-tokenizer/mapping'

type Encoding = typeof import('gpt-tokenizer/encoding/o200k_base')
type EncodingName = 'o200k_base' | 'cl100k_base'

const load = createRequire(import.meta.url)
const encodings = new Map<EncodingName, Encoding>()
let modelEncodings: Readonly<Record<string, string>> | undefined

function encodingFor (model: string | undefined): Encoding {
  modelEncodings ??= (load('gpt-tokenizer/cjs/mapping') as { modelToEncodingMap: typeof EncodingMap }).modelToEncodingMap
  const name: EncodingName = model !== undefined && modelEncodings[model] === 'cl100k_base' ? 'cl100k_base' : 'o200k_base'
  let encoding = encodings.get(name)
  if (encoding === undefined) {
    encoding = load(`gpt-tokenizer/cjs/encoding/${name}`) as Encoding
    encodings.set(name, encoding)
  }
  return encoding
}

/**
 * Chat formatting around each message: `<|start|>role<|message|>…<|end|>`, 3 tokens besides the role
 * and content (OpenAI's own counting recipe), and 3 more that prime the answer.
 */
const PER_MESSAGE = 3
const REPLY_PRIMING = 3
/** The tools are rendered into the prompt as a declaration block: its framing, on top of their JSON. */
const TOOLS_FRAMING = 12

export function estimateTokens (text: string, model?: string): number {
  if (text === '') return 0
  return encodingFor(model).countTokens(text)
}

/** Input tokens of a request: each message's role and content plus framing, and the tool list when there is one. */
export function estimateInputTokens (
  messages: ReadonlyArray<{ role: string, content: string }>, tools?: unknown, model?: string
): number {
  let total = REPLY_PRIMING
  for (const message of messages) total += PER_MESSAGE + estimateTokens(message.role, model) + estimateTokens(message.content, model)
  if (tools !== undefined && !(Array.isArray(tools) && tools.length === 0)) {
    total += TOOLS_FRAMING + estimateTokens(JSON.stringify(tools), model)
  }
  return total
}
