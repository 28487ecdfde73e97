/** Refusals of the assistant, each with a stable code (docs/assistant.md lists them). */
import { domainError } from '../errors.ts'

/** Also what a member who does not own the conversation is told: it is not theirs to know of. */
export class ConversationNotFound extends domainError('ai.conversation_not_found', 404, 'conversation not found') {}
export class ConversationExists extends domainError('ai.conversation_exists', 409, 'a conversation with this id exists') {}
export class ResponseInProgress extends domainError('ai.response_in_progress', 409,
  'the conversation is answering: wait for the response to end, or stop it') {}
export class NothingToContinue extends domainError('ai.nothing_to_continue', 409,
  'no response of this conversation is waiting for a tool\'s approval: send a message') {}
export class NoActiveResponse extends domainError('ai.no_active_response', 409, 'no response of this conversation is streaming') {}
export class ResponseSequenceBroken extends domainError('ai.response_sequence', 409, 'the response part is out of sequence') {}
export class UsageAlreadyRecorded extends domainError('ai.usage_recorded', 409, 'the response\'s usage is recorded already') {}
export class ResponseNotEnded extends domainError('ai.response_not_ended', 409, 'the response has not ended') {}
export class AiNotConfigured extends domainError('ai.not_configured', 503,
  'the assistant has no model configured (OPENAI_API_KEY is not set)') {}
export class ApprovalPending extends domainError('ai.approval_pending', 409,
  'a tool call of this conversation still waits for approval or runs: approve or deny it first') {}
