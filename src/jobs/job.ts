/** The BullMQ queue every job goes through; shared by the module, the producer, the worker and the tests. */
export const QUEUE_NAME = 'jobs';
/** BullMQ job name of a registered message job. */
export const JOB_NAME = 'message';

export const DEFAULT_MESSAGE = 'Job executed successfully';
export const DEFAULT_DELAY_SECONDS = 180;
export const DEFAULT_MAX_RETRY = 10;

/** A job as a client asks for it, after the defaults (what an Idempotency-Key's fingerprint covers). */
export interface JobRequest {
  message: string;
  delay_seconds: number;
  max_retry: number;
}

/** What is stored in Redis as the job's data. */
export interface JobData extends JobRequest {
  /** The `sub` of the token that registered it (SPEC 6.3); absent on jobs stored before tenants existed. */
  owner?: string;
}
