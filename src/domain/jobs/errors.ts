import { domainError } from '../errors.ts'

export class JobNotFound extends domainError('job.not_found', 404, 'job not found') {}
export class JobNotDue extends domainError('job.not_due', 409, 'the job is not due yet') {}
export class JobLeased extends domainError('job.leased', 409, 'another node holds the job\'s lease') {}
/**
 * A node's lease on an attempt is gone: expired, taken over, or its attempt already ended. Stop the handler; its report is not
 * recorded.
 */
export class LeaseLost extends domainError('job.lease_lost', 409, 'this node no longer holds the job\'s lease for that attempt') {}
export class JobClosed extends domainError('job.closed', 409, 'the job has succeeded, is dead or was cancelled') {}
export class JobNotRetryable extends domainError('job.not_retryable', 409,
  'only a dead, cancelled or failed job waiting for its retry can be retried') {}
/** Another schedule claimed the job key since the caller read it: read the holder again and judge anew. */
export class JobKeyTaken extends domainError('job.key_taken', 409, 'another job claimed this key meanwhile') {}
export class UnknownJobType extends domainError('job.unknown_type', 400, 'no handler is registered for this job type') {}
export class InvalidJobPayload extends domainError('job.invalid_payload', 400, 'the payload does not match the job type\'s schema') {}
