// What GET /api/dm-jobqueue/jobs/:job_id shows of a stored job: pure, so it is tested without Redis.
import type { Job } from 'bullmq';
import { EXPIRED_REASON, isExpired, type JobData, UUID_V4_PATTERN } from '../job';
import { jobDueAt, occurrenceOf } from '../schedule';
import type { JobViewDto, RegisteredJobDto } from './dto/job-responses.dto';

/** The states BullMQ keeps a job in, as a client sees them; its finer waiting states are all "waiting". */
export const QUEUE_STATES = ['delayed', 'waiting', 'active', 'completed', 'failed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];
/** The states a client sees: the queue's, and "expired" (not started by its expires_at: it never runs). */
export const JOB_STATES = [...QUEUE_STATES, 'expired'] as const;
export type JobState = (typeof JOB_STATES)[number];

// RFC 4122 version 4, the ids this service gives out (randomUUID), or a schedule's occurrence (BullMQ's
// `repeat:<schedule id>:<due ms>`); any letter case.
const JOB_ID = new RegExp(`^(?:${UUID_V4_PATTERN}|repeat:${UUID_V4_PATTERN}:\\d{1,16})$`, 'i');
const UUID_V4 = new RegExp(`^${UUID_V4_PATTERN}$`, 'i');

/** The job id in its stored (lower-case) form, or undefined when it cannot be one of ours. */
export function parseJobId(raw: string | undefined): string | undefined {
  return typeof raw === 'string' && JOB_ID.test(raw) ? raw.toLowerCase() : undefined;
}

/** A schedule id in its stored (lower-case) form, or undefined when it cannot be one of ours. */
export function parseScheduleId(raw: string | undefined): string | undefined {
  return typeof raw === 'string' && UUID_V4.test(raw) ? raw.toLowerCase() : undefined;
}

/**
 * Maps BullMQ's state names (`getState()`, the Lua scripts and the key names differ slightly) onto the
 * five the API shows; undefined for "unknown", meaning no such job.
 */
export function publicJobState(state: string): QueueState | undefined {
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
  'id' | 'data' | 'timestamp' | 'attemptsMade' | 'processedOn' | 'finishedOn' | 'failedReason' | 'repeatJobKey'
>;

/**
 * What a client sees of a job BullMQ holds in `state` at `now`: a job that had not started by its expires_at is
 * "expired", both while it still waits (no worker took it yet) and once a worker dropped it.
 */
export function viewState(job: Pick<StoredJob, 'data' | 'failedReason'>, state: QueueState, now: number): JobState {
  if (state === 'failed' && job.failedReason === EXPIRED_REASON) return 'expired';
  if ((state === 'delayed' || state === 'waiting') && isExpired(job.data, now)) return 'expired';
  return state;
}

export function toJobView(job: StoredJob, queueState: QueueState, now: number = Date.now()): JobViewDto {
  const state = viewState(job, queueState, now);
  const expiresAt = job.data.expires_at;
  const dropped = queueState === 'failed' && state === 'expired';
  const occurrence = occurrenceOf(job.id!);
  const runAt = jobDueAt(job);
  return {
    job_id: job.id!,
    owner: job.data.owner ?? null,
    schedule_id: occurrence && job.repeatJobKey ? occurrence.scheduleId : null,
    state,
    message: job.data.message,
    delay_seconds: occurrence ? Math.max(0, Math.ceil((runAt - job.timestamp) / 1_000)) : job.data.delay_seconds,
    max_retry: job.data.max_retry,
    // A worker's drop of an expired job is no attempt: the job did not run.
    attempts_made: Math.max(0, (job.attemptsMade ?? 0) - (dropped ? 1 : 0)),
    created_at: new Date(job.timestamp).toISOString(),
    // From the data rather than the job's "delay" field, which BullMQ overwrites with a retry's backoff.
    run_at: new Date(runAt).toISOString(),
    expires_at: isoOrNull(expiresAt),
    // A drop is no start either; an earlier attempt's start was overwritten by it.
    processed_at: dropped ? null : isoOrNull(job.processedOn),
    // An expired job ended at its expires_at, whether or not a worker has dropped it yet.
    finished_at: state === 'expired' ? isoOrNull(expiresAt) : isoOrNull(job.finishedOn),
    failed_reason: job.failedReason ? job.failedReason : null,
  };
}

/** A position in a job index: the score (registration time, ms, as Redis wrote it) and id of the last job seen. */
export interface ListCursor {
  score: string;
  id: string;
}

/** The opaque `next_cursor` of a list answer. */
export function encodeCursor(cursor: ListCursor): string {
  return Buffer.from(`${cursor.score}:${cursor.id}`, 'utf8').toString('base64url');
}

/** The position a `cursor` query parameter names, or undefined when it is not one this service gave out. */
export function decodeCursor(text: string): ListCursor | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) return undefined;
  const match = /^(\d{1,16}):(.+)$/.exec(Buffer.from(text, 'base64url').toString('utf8'));
  const id = match && parseJobId(match[2]);
  return match && id === match[2] ? { score: match[1], id } : undefined;
}

/** The register answer for the job `jobId` whose stored data is `data`. */
export function registeredAnswer(jobId: string, data: JobData): RegisteredJobDto {
  return {
    job_id: jobId,
    status: 'registered',
    delay_seconds: data.delay_seconds,
    max_retry: data.max_retry,
    run_at: new Date(data.run_at!).toISOString(),
    expires_at: data.expires_at === undefined ? null : new Date(data.expires_at).toISOString(),
  };
}
