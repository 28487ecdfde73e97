import { domainError } from '../errors.ts'

export class JobNotFound extends domainError('job.not_found', 404, 'job not found') {}
export class JobNotDue extends domainError('job.not_due', 409, 'the job is not due yet') {}
export class JobLeased extends domainError('job.leased', 409, 'another node holds the job\'s lease') {}
/** A node's lease on an attempt is gone: expired, taken over, or its attempt already ended. Stop the handler; its report is not recorded. */
export class LeaseLost extends domainError('job.lease_lost', 409, 'this node no longer holds the job\'s lease for that attempt') {}
export class JobClosed extends domainError('job.closed', 409, 'the job has succeeded, is dead or was cancelled') {}
export class JobNotRetryable extends domainError('job.not_retryable', 409, 'only a dead, cancelled or failed job waiting for its retry can be retried') {}
