/**
 * One message: the user's text, or a response's parts in the order they came
 * (text, and each tool call with its name, input and output or error); a call
 * waiting for approval has Approve and Deny. Under a response that has ended,
 * what ended it when that was not a plain answer.
 */
import { getToolName, isToolUIPart, type DynamicToolUIPart, type ToolUIPart } from 'ai'
import type { ChatMessage } from './messages.ts'
import type { Decision } from './ChatPanel.tsx'

interface Props {
  message: ChatMessage
  /** The response streaming now. */
  live: boolean
  decide: (decision: Decision) => void
  deciding: boolean
}

const ENDINGS: Record<string, string> = {
  aborted: 'Stopped.', failed: 'The response failed.', awaiting_approval: 'Waiting for your approval.'
}

export function MessageView ({ message, live, decide, deciding }: Props) {
  const who = message.role === 'user' ? 'You' : 'Assistant'
  const ending = live ? 'Answering…' : ENDINGS[message.metadata?.status ?? '']
  return (
    <li className={`message ${message.role}`} aria-busy={live}>
      <p className="speaker">{who}</p>
      {message.parts.map((part, i) => {
        if (part.type === 'text') return <p key={i} className="text">{part.text}</p>
        if (isToolUIPart(part)) return <ToolCall key={part.toolCallId} part={part} decide={decide} deciding={deciding} />
        return null
      })}
      {ending !== undefined && <p className="ending muted" role="status">{ending}</p>}
    </li>
  )
}

const STATES: Record<string, string> = {
  'input-streaming': 'preparing', 'input-available': 'running', 'approval-requested': 'waiting for approval',
  'approval-responded': 'decided', 'output-available': 'done', 'output-error': 'failed', 'output-denied': 'denied'
}

const json = (value: unknown): string => JSON.stringify(value, null, 2) ?? ''

function ToolCall ({ part, decide, deciding }: { part: ToolUIPart | DynamicToolUIPart, decide: Props['decide'], deciding: boolean }) {
  const name = getToolName(part)
  return (
    <div className="tool" role="group" aria-label={`Tool ${name}`}>
      <p><span className="muted">Tool</span> <code>{name}</code> <span className="chip">{STATES[part.state] ?? part.state}</span></p>
      <dl>
        <dt>Input</dt><dd><pre>{part.input === undefined ? '…' : json(part.input)}</pre></dd>
        {part.state === 'output-available' && <><dt>Output</dt><dd><pre>{json(part.output)}</pre></dd></>}
        {part.state === 'output-error' && <><dt>Error</dt><dd className="error">{part.errorText}</dd></>}
      </dl>
      {part.state === 'approval-requested' && (
        <div className="actions">
          <button type="button" disabled={deciding} onClick={() => decide({ approvalId: part.approval.id, approved: true })}>
            Approve<span className="sr-only"> {name}</span>
          </button>
          <button type="button" className="secondary" disabled={deciding}
            onClick={() => decide({ approvalId: part.approval.id, approved: false })}>
            Deny<span className="sr-only"> {name}</span>
          </button>
        </div>
      )}
    </div>
  )
}
