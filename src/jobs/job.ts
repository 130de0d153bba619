import type { JobsOptions } from 'bullmq';
import type { AppConfig } from '../config/app-config';

/** The BullMQ queue every job goes through; shared by the module, the producer, the worker and the tests. */
export const QUEUE_NAME = 'jobs';
/** BullMQ job name of a registered message job. */
export const JOB_NAME = 'message';

export const DEFAULT_MESSAGE = 'Job executed successfully';
export const DEFAULT_DELAY_SECONDS = 180;
export const DEFAULT_MAX_RETRY = 10;

/**
 * The failure a worker records for a job it took after its `expires_at` (it never printed); the job view shows
 * such a job as `expired`.
 */
export const EXPIRED_REASON = 'Job expired before it started';

/**
 * A job as a client asks for it, after the defaults: what an Idempotency-Key's fingerprint covers. Its due time is
 * either `delay_seconds` after registration or the instant `run_at`.
 */
export type JobRequest = {
  message: string;
  max_retry: number;
  /** Epoch milliseconds after which the job never starts. */
  expires_at?: number;
} & ({ delay_seconds: number; run_at?: undefined } | { run_at: number; delay_seconds?: undefined });

/** What is stored in Redis as the job's data: the effective schedule. */
export interface JobData {
  message: string;
  /** Whole seconds from registration (or from its latest move) to its due time, rounded up. */
  delay_seconds: number;
  max_retry: number;
  /**
   * When the job is due, epoch ms. Absent on jobs stored before run_at existed: then it is created_at plus
   * delay_seconds.
   */
  run_at?: number;
  /** Epoch ms after which the job never starts; absent when it never expires. */
  expires_at?: number;
  /** The `sub` of the token that registered it (SPEC 6.3); absent on jobs stored before tenants existed. */
  owner?: string;
}

/** When `data`'s job is due (epoch ms), given the job's registration time. */
export function dueAt(data: Pick<JobData, 'run_at' | 'delay_seconds'>, timestamp: number): number {
  return data.run_at ?? timestamp + data.delay_seconds * 1_000;
}

/** Whether a job that has not started by `now` may no longer start. */
export function isExpired(data: Pick<JobData, 'expires_at'>, now: number): boolean {
  return data.expires_at !== undefined && now >= data.expires_at;
}

/**
 * When a job asked for at `now` with `run_at` or `delay_seconds` is due (epoch ms; a past run_at is now), and
 * delay_seconds, the time to it rounded up to whole seconds. On register and on a move alike.
 */
export function scheduledAt(
  schedule: Pick<JobRequest, 'run_at' | 'delay_seconds'>,
  now: number,
): { due: number; delay_seconds: number } {
  const due = schedule.run_at !== undefined ? Math.max(schedule.run_at, now) : now + schedule.delay_seconds! * 1_000;
  return { due, delay_seconds: Math.ceil((due - now) / 1_000) };
}

/**
 * What Redis stores for `request`, registered by `owner` at `now` (epoch ms): its effective schedule.
 */
export function jobDataFor(request: JobRequest, owner: string, now: number): JobData {
  const { due, delay_seconds } = scheduledAt(request, now);
  return {
    message: request.message,
    delay_seconds,
    max_retry: request.max_retry,
    run_at: due,
    ...(request.expires_at !== undefined && { expires_at: request.expires_at }),
    owner,
  };
}

/** RFC 4122 version 4, the ids this service gives out (randomUUID), for jobs and schedules alike; any letter case. */
export const UUID_V4_PATTERN = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';

/**
 * The BullMQ options every job gets, registered or a schedule's occurrence, besides its attempts (`max_retry` + 1):
 * exponential backoff from JOB_BACKOFF_MS, and the retention of finished jobs (JOB_KEEP_*).
 */
export function jobOptions(config: AppConfig): Pick<JobsOptions, 'backoff' | 'removeOnComplete' | 'removeOnFail'> {
  return {
    backoff: { type: 'exponential', delay: config.get('JOB_BACKOFF_MS') },
    removeOnComplete: { age: config.get('JOB_KEEP_COMPLETED_SECONDS'), count: config.get('JOB_KEEP_COMPLETED_COUNT') },
    removeOnFail: { age: config.get('JOB_KEEP_FAILED_SECONDS'), count: config.get('JOB_KEEP_FAILED_COUNT') },
  };
}
