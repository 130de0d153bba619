/** The BullMQ queue every job goes through; shared by the module, the producer, the worker and the tests. */
export const QUEUE_NAME = 'jobs';
/** BullMQ job name of a registered message job. */
export const JOB_NAME = 'message';

export const DEFAULT_MESSAGE = 'Job executed successfully';
export const DEFAULT_DELAY_SECONDS = 180;
export const DEFAULT_MAX_RETRY = 10;

/** What is stored in Redis as the job's data. */
export interface JobData {
  message: string;
  delay_seconds: number;
  max_retry: number;
}
