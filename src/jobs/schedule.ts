// A recurring schedule (SPEC 6.5): what a client asks for, what Redis keeps of it, and how its occurrences, which
// are BullMQ job scheduler jobs, are named. Shared by the API (which creates and reads schedules) and the worker
// (which runs their occurrences).
import { dueAt, JobData, UUID_V4_PATTERN } from './job';

/** A schedule as a client asks for it, after the defaults: what the record keeps. Times are epoch ms. */
export interface ScheduleRequest {
  message: string;
  max_retry: number;
  /** Exactly one of cron and every_seconds. */
  cron?: string;
  every_seconds?: number;
  /** The IANA zone a cron is read in. */
  tz: string;
  start_at?: number;
  end_at?: number;
  /** Occurrences at most. */
  limit?: number;
}

/**
 * The failure a worker records for an occurrence it takes after its schedule was deleted (a retry, or one taken
 * back from a dead worker), or that would be due after the schedule's end_at: it did not start, and never runs.
 */
export const SCHEDULE_GONE_REASON = 'Its schedule was deleted or had ended';

/** `<prefix>:schedules`, every tenant's schedule ids by creation time (ms): what an admin lists. */
export const globalSchedulesKey = (queuePrefix: string): string => `${queuePrefix}:schedules`;

/**
 * `<prefix>:schedule:<id>`, the schedule's record: `owner`, `created_at` (ms), `spec` (the ScheduleRequest as JSON);
 * once it has ended also `ended_at` (ms) and `occurrences`, and then it expires after JOB_KEEP_COMPLETED_SECONDS.
 * BullMQ keeps the live part (the job scheduler `<prefix>:<queue>:repeat:<id>`), which goes when the schedule ends.
 */
export const scheduleKey = (queuePrefix: string, scheduleId: string): string => `${queuePrefix}:schedule:${scheduleId}`;

const OCCURRENCE_ID = new RegExp(`^repeat:(${UUID_V4_PATTERN}):(\\d{1,16})$`);

/**
 * The schedule and due time (ms) of an occurrence's job id (BullMQ names them `repeat:<scheduler id>:<due ms>`), or
 * undefined for any other job id. Expects the stored (lower-case) form.
 */
export function occurrenceOf(jobId: string): { scheduleId: string; dueAt: number } | undefined {
  const match = OCCURRENCE_ID.exec(jobId);
  return match ? { scheduleId: match[1], dueAt: Number(match[2]) } : undefined;
}

/** The data every occurrence of `request`'s schedule carries: the job data of SPEC 5.3, with its owner. */
export function occurrenceData(request: ScheduleRequest, owner: string): JobData {
  // delay_seconds and run_at differ per occurrence: the job view reads them from the occurrence's id.
  return { message: request.message, delay_seconds: 0, max_retry: request.max_retry, owner };
}

/**
 * When a stored job is (or was first) due, epoch ms: a schedule's occurrence when its id says (its data is the
 * schedule's, the same for all of them), any other job at its run_at.
 */
export function jobDueAt(job: {
  id?: string;
  data: Pick<JobData, 'run_at' | 'delay_seconds'>;
  timestamp: number;
}): number {
  const occurrence = job.id === undefined ? undefined : occurrenceOf(job.id);
  return occurrence ? occurrence.dueAt : dueAt(job.data, job.timestamp);
}
