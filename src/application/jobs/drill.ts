/**
 * The job type of the `dead-job` drill (src/ops/drills.ts): `drill.poison`
 * fails its first `failures` attempts with a permanent error, so the job is
 * dead at once, as a poison job's would be, and succeeds on any later
 * attempt, so the runbook's mitigation (retry once the cause is fixed) can
 * be carried out and checked. It does nothing else: the drill organization
 * is in its payload only so that the job is listed under it.
 *
 * A drill needs the running instance to run the job, so the application
 * registers this handler on every runtime, beside its own. Anyone who can
 * schedule jobs can schedule it, and it can only fail or succeed.
 */
import { z } from 'zod'
import { PermanentJobError, type JobHandler } from './handlers.ts'

export const DRILL_JOB_TYPE = 'drill.poison'
/** The code its failures are recorded with. */
export const DRILL_FAILURE_CODE = 'drill.poison'

const DrillJobPayload = z.object({
  orgId: z.string().min(1).max(200),
  /** How many attempts fail before one succeeds. */
  failures: z.number().int().min(0).max(100)
}).strict()
export type DrillJobPayload = z.infer<typeof DrillJobPayload>

export const drillPoisonJob: JobHandler<DrillJobPayload> = {
  type: DRILL_JOB_TYPE,
  payload: DrillJobPayload,
  timeoutSeconds: 30,
  maxAttempts: 3,
  async handle ({ failures }, { attempt }) {
    if (attempt <= failures) {
      throw new PermanentJobError(`attempt ${attempt} of a drill job fails on purpose (${failures} to fail)`, DRILL_FAILURE_CODE)
    }
  }
}
