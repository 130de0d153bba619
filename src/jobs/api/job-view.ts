// What GET /api/dm-jobqueue/jobs/:job_id shows of a stored job: pure, so it is tested without Redis.
import type { Job } from 'bullmq';
import type { JobData } from '../job';
import type { JobViewDto } from './dto/job-responses.dto';

/** The states a client sees; BullMQ's finer waiting states are all "waiting" (the job has not started). */
export const JOB_STATES = ['delayed', 'waiting', 'active', 'completed', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

// RFC 4122 version 4, the only ids this service gives out (randomUUID); any letter case.
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** The job id in its stored (lower-case) form, or undefined when it cannot be one of ours. */
export function parseJobId(raw: string | undefined): string | undefined {
  return typeof raw === 'string' && UUID_V4.test(raw) ? raw.toLowerCase() : undefined;
}

/**
 * Maps BullMQ's state names (`getState()`, the Lua scripts and the key names differ slightly) onto the
 * five the API shows; undefined for "unknown", meaning no such job.
 */
export function publicJobState(state: string): JobState | undefined {
  switch (state) {
    case 'delayed':
    case 'active':
    case 'completed':
    case 'failed':
      return state;
    case 'waiting':
    case 'wait':
    case 'paused':
    case 'prioritized':
    case 'waiting-children':
      return 'waiting';
    default:
      return undefined;
  }
}

const isoOrNull = (timestamp: number | undefined | null): string | null =>
  typeof timestamp === 'number' && Number.isFinite(timestamp) && timestamp > 0
    ? new Date(timestamp).toISOString()
    : null;

export type StoredJob = Pick<
  Job<JobData>,
  'id' | 'data' | 'timestamp' | 'attemptsMade' | 'processedOn' | 'finishedOn' | 'failedReason'
>;

export function toJobView(job: StoredJob, state: JobState): JobViewDto {
  return {
    job_id: job.id!,
    owner: job.data.owner ?? null,
    state,
    message: job.data.message,
    delay_seconds: job.data.delay_seconds,
    max_retry: job.data.max_retry,
    attempts_made: job.attemptsMade ?? 0,
    created_at: new Date(job.timestamp).toISOString(),
    // From the data rather than the job's "delay" field, which BullMQ overwrites with a retry's backoff.
    run_at: new Date(job.timestamp + job.data.delay_seconds * 1_000).toISOString(),
    processed_at: isoOrNull(job.processedOn),
    finished_at: isoOrNull(job.finishedOn),
    failed_reason: job.failedReason ? job.failedReason : null,
  };
}
