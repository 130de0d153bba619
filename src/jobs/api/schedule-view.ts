// What the schedule API shows of a schedule: pure, so it is tested without Redis.
import type { ScheduleRequest } from '../schedule';
import type { ScheduleViewDto } from './dto/schedule-responses.dto';

export const SCHEDULE_STATES = ['active', 'ended'] as const;
export type ScheduleState = (typeof SCHEDULE_STATES)[number];

/**
 * A schedule as Redis holds it (the reply of the schedule scripts' describe()): its record's fields, the due time
 * of the occurrence BullMQ has added last (ms; null when the schedule has ended or was never created), the
 * occurrences BullMQ has added so far, and whether that last one has not started yet.
 */
export interface StoredSchedule {
  record: Record<string, string>;
  nextMillis: number | null;
  created: number | null;
  pending: boolean;
}

/** A describe() reply as the scripts return it. */
export type DescribeReply = [string[], string | null, string | null, number];

export function parseDescribeReply([fields, nextMillis, created, pending]: DescribeReply): StoredSchedule {
  const record: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) record[fields[i]] = fields[i + 1];
  return {
    record,
    nextMillis: nextMillis === null ? null : Number(nextMillis),
    created: created === null ? null : Number(created),
    pending: pending === 1,
  };
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** The view of schedule `id` at `now`, or undefined when its record is not one this service wrote. */
export function toScheduleView(id: string, stored: StoredSchedule, now: number): ScheduleViewDto | undefined {
  const { record } = stored;
  let spec: ScheduleRequest;
  try {
    spec = JSON.parse(record.spec) as ScheduleRequest;
  } catch {
    return undefined;
  }
  if (typeof spec !== 'object' || spec === null || record.owner === undefined) return undefined;
  const endedAt = record.ended_at === undefined ? undefined : Number(record.ended_at);
  // The last occurrence added has started and no other follows: the schedule is over (the worker that started it
  // records that a moment later), unless its limit and end are still ahead, when the next is being added right now.
  const created = stored.created ?? 0;
  // No scheduler and no recorded end: it is being created (or its creation failed and it is being deleted).
  const over =
    endedAt !== undefined ||
    (stored.nextMillis !== null &&
      !stored.pending &&
      ((spec.limit !== undefined && created >= spec.limit) || (spec.end_at !== undefined && now > spec.end_at)));
  const occurrences =
    endedAt !== undefined ? Number(record.occurrences ?? 0) : Math.max(0, created - (stored.pending ? 1 : 0));
  return {
    schedule_id: id,
    owner: record.owner,
    state: over ? 'ended' : 'active',
    message: spec.message,
    max_retry: spec.max_retry,
    cron: spec.cron ?? null,
    every_seconds: spec.every_seconds ?? null,
    tz: spec.tz,
    start_at: iso(spec.start_at),
    end_at: iso(spec.end_at),
    limit: spec.limit ?? null,
    created_at: new Date(Number(record.created_at)).toISOString(),
    next_run_at: !over && stored.pending && stored.nextMillis !== null ? iso(stored.nextMillis) : null,
    occurrences,
    ended_at: iso(endedAt),
  };
}
