// Defaults and bounds of a schedule request (SPEC 6.5): pure, so it is tested without Nest or Redis.
import { parseExpression } from 'cron-parser';
import { DEFAULT_MAX_RETRY, DEFAULT_MESSAGE } from '../job';
import type { ScheduleRequest } from '../schedule';
import { hasLoneSurrogate } from '../../common/unicode';
import type { CreateScheduleDto } from './dto/create-schedule.dto';
import { characterLength, instantMessage, JobLimits, LONE_SURROGATE_MESSAGE, parseInstant } from './job-spec';

export interface ScheduleLimits extends JobLimits {
  /** SCHEDULE_MIN_INTERVAL_SECONDS: the least time between two occurrences. */
  minIntervalSeconds: number;
}

/** The longest every_seconds (ten years): BullMQ counts in milliseconds, and nobody waits longer. */
export const MAX_EVERY_SECONDS = 10 * 365 * 86_400;

// The characters of cron fields (numbers, names, * / , - ? L W #); macros such as @daily are not accepted.
const CRON_FIELD = /^[0-9A-Za-z*/,?#-]+$/;

/** The server's zone, the default of `tz`. */
export const serverTimeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** Whether `name` is an IANA time zone name this process knows (its tz data, as luxon and cron-parser read it). */
export function isTimeZone(name: string): boolean {
  // Intl also takes offsets such as +09:00, which are not zone names (and have no daylight-saving rules).
  if (!/^[A-Za-z][A-Za-z0-9_+/-]{0,63}$/.test(name)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/**
 * The least time between two occurrences of a cron on an ordinary day (ms): between two consecutive times of day
 * it matches, or from its last time of day to its first on the next day. Its days only spread occurrences further
 * apart. (A daylight-saving change can bring two closer once; the minimum interval is about the regular spacing.)
 * From the parsed fields rather than by stepping through occurrences: cron-parser takes milliseconds per occurrence.
 */
export function smallestGapMs(fields: {
  second: readonly number[];
  minute: readonly number[];
  hour: readonly number[];
}) {
  let smallest = Infinity;
  let first: number | undefined;
  let previous: number | undefined;
  for (const hour of fields.hour) {
    for (const minute of fields.minute) {
      for (const second of fields.second) {
        const time = (hour * 3_600 + minute * 60 + second) * 1_000;
        if (previous !== undefined) smallest = Math.min(smallest, time - previous);
        first ??= time;
        previous = time;
      }
    }
  }
  return Math.min(smallest, first! + 86_400_000 - previous!);
}

/**
 * What is wrong with `cron` read in `tz` from `from` (ms) to `until` (ms, or none), or undefined when it is a valid
 * expression whose occurrences are at least `minGapMs` apart and that has one in that span.
 */
export function cronProblem(cron: string, tz: string, from: number, until: number | undefined, minGapMs: number) {
  const fields = cron.trim().split(/\s+/);
  if (cron.length > 200 || (fields.length !== 5 && fields.length !== 6) || !fields.every((f) => CRON_FIELD.test(f))) {
    return 'cron must be a cron expression of 5 fields, or 6 with seconds first, such as "0 9 * * 1-5"';
  }
  let iterator: ReturnType<typeof parseExpression>;
  try {
    iterator = parseExpression(fields.join(' '), {
      tz,
      currentDate: new Date(from),
      ...(until !== undefined && { endDate: new Date(until) }),
    });
  } catch (error) {
    return `cron is not a valid cron expression: ${(error as Error).message}`;
  }
  if (smallestGapMs(iterator.fields) < minGapMs) {
    return `cron must not have occurrences less than ${minGapMs / 1_000} seconds apart (SCHEDULE_MIN_INTERVAL_SECONDS)`;
  }
  try {
    iterator.next();
  } catch {
    return until === undefined ? 'cron has no occurrence' : 'cron has no occurrence between start_at and end_at';
  }
  return undefined;
}

export type ScheduleSpecResult = { ok: true; request: ScheduleRequest } | { ok: false; errors: string[] };

/**
 * Applies the defaults and checks everything the DTO's decorators cannot: exactly one of cron and every_seconds,
 * the cron, the zone, the minimum interval, the instants (start_at at most JOB_MAX_DELAY_SECONDS ahead, end_at
 * after start_at and after now), the message and max_retry bounds. One message per problem, naming the field.
 */
export function resolveScheduleSpec(
  dto: CreateScheduleDto,
  limits: ScheduleLimits,
  now: number = Date.now(),
): ScheduleSpecResult {
  const errors: string[] = [];
  if (dto.message && characterLength(dto.message) > limits.messageMaxLength) {
    errors.push(`message must be shorter than or equal to ${limits.messageMaxLength} characters`);
  }
  if (dto.message && hasLoneSurrogate(dto.message)) errors.push(LONE_SURROGATE_MESSAGE);
  const maxRetry = dto.max_retry ?? DEFAULT_MAX_RETRY;
  if (maxRetry > limits.maxRetry) errors.push(`max_retry must not be greater than ${limits.maxRetry}`);

  let tz = serverTimeZone();
  let tzValid = true;
  if (dto.tz != null) {
    if (isTimeZone(dto.tz)) tz = dto.tz;
    else {
      errors.push('tz must be an IANA time zone name, such as Asia/Tokyo or UTC');
      tzValid = false;
    }
  }

  const instant = (field: 'start_at' | 'end_at'): number | undefined => {
    const text = dto[field];
    if (text == null) return undefined;
    const parsed = parseInstant(text);
    if (parsed === undefined) errors.push(instantMessage(field));
    return parsed;
  };
  const startAt = instant('start_at');
  const endAt = instant('end_at');
  if (startAt !== undefined && startAt - now > limits.maxDelaySeconds * 1_000) {
    errors.push(`start_at must not be more than ${limits.maxDelaySeconds} seconds ahead (JOB_MAX_DELAY_SECONDS)`);
  }
  if (endAt !== undefined) {
    if (startAt !== undefined && endAt <= startAt) errors.push('end_at must be after start_at');
    else if (endAt <= now) errors.push('end_at must be in the future');
  }

  const minGapMs = limits.minIntervalSeconds * 1_000;
  if (dto.cron != null && dto.every_seconds != null) {
    errors.push('cron and every_seconds are mutually exclusive: give one of them');
  } else if (dto.cron == null && dto.every_seconds == null) {
    errors.push('cron or every_seconds is required');
  } else if (dto.every_seconds != null) {
    if (dto.every_seconds < limits.minIntervalSeconds) {
      errors.push(`every_seconds must not be less than ${limits.minIntervalSeconds} (SCHEDULE_MIN_INTERVAL_SECONDS)`);
    } else if (dto.every_seconds > MAX_EVERY_SECONDS) {
      errors.push(`every_seconds must not be greater than ${MAX_EVERY_SECONDS}`);
    }
  } else if (tzValid && !errors.some((e) => e.startsWith('start_at') || e.startsWith('end_at'))) {
    const problem = cronProblem(dto.cron!, tz, Math.max(startAt ?? now, now), endAt, minGapMs);
    if (problem !== undefined) errors.push(problem);
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    request: {
      message: dto.message || DEFAULT_MESSAGE,
      max_retry: maxRetry,
      ...(dto.cron != null ? { cron: dto.cron.trim().split(/\s+/).join(' ') } : { every_seconds: dto.every_seconds! }),
      tz,
      ...(startAt !== undefined && { start_at: startAt }),
      ...(endAt !== undefined && { end_at: endAt }),
      ...(dto.limit != null && { limit: dto.limit }),
    },
  };
}
