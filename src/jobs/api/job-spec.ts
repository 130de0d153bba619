// Defaults and configured bounds of a job request: pure, so it is tested without Nest.
import { DEFAULT_DELAY_SECONDS, DEFAULT_MAX_RETRY, DEFAULT_MESSAGE, JobRequest } from '../job';
import type { RegisterJobDto } from './dto/register-job.dto';
import { hasLoneSurrogate } from '../../common/unicode';

export interface JobLimits {
  maxDelaySeconds: number;
  maxRetry: number;
  messageMaxLength: number;
}

export const LONE_SURROGATE_MESSAGE = 'message must be Unicode text: it holds a lone UTF-16 surrogate';

/** Length in characters (Unicode code points), so "é" and "😀" each count as one. */
export function characterLength(text: string): number {
  let length = 0;
  for (const _ of text) length += 1;
  return length;
}

// RFC 3339 section 5.6 date-time: full date, "T", time with optional fraction, and "Z" or a numeric offset.
const RFC_3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * The instant an RFC 3339 date-time names, in epoch milliseconds (a finer fraction is cut to the millisecond), or
 * undefined when it is not one: no offset, a day the month does not have, an hour past 23, a leap second (60,
 * which JavaScript dates cannot hold), an offset past 23:59.
 */
export function parseInstant(text: string): number | undefined {
  const match = RFC_3339.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const [, , , , , , , fraction, zulu, sign, offsetHours, offsetMinutes] = match;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  // Date.UTC rolls an impossible day over into the next month: such a date is refused, not moved.
  // The fraction's first three digits are the milliseconds (a longer one is cut, never rounded into the next second).
  const ms = fraction === undefined ? 0 : Number(fraction.slice(1, 4).padEnd(3, '0'));
  const date = new Date(0);
  // setUTCFullYear rather than Date.UTC, which reads the years 0 to 99 as 1900 to 1999.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  const local = date.getTime();
  if (date.getUTCDate() !== day) return undefined;
  if (zulu !== undefined) return local;
  if (Number(offsetHours) > 23 || Number(offsetMinutes) > 59) return undefined;
  const offsetMs = (Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000;
  return sign === '+' ? local - offsetMs : local + offsetMs;
}

export const instantMessage = (field: string): string =>
  `${field} must be an RFC 3339 date-time with Z or an offset, such as 2026-12-01T09:00:00Z or 2026-12-01T18:00:00+09:00`;

export type JobSpecResult = { ok: true; data: JobRequest } | { ok: false; errors: string[] };

/** A due time as asked: `delay_seconds` from now, or the instant `run_at` (epoch ms, perhaps past). */
export type Schedule = { delay_seconds: number; run_at?: undefined } | { run_at: number; delay_seconds?: undefined };

/**
 * The due time `dto` asks for (`defaultDelay` when it gives neither field; undefined: one is required), checked
 * against the bounds; pushes what is wrong onto `errors`. `due` is the effective due time (a past run_at is now).
 */
function resolveSchedule(
  dto: { delay_seconds?: number | null; run_at?: string | null },
  limits: JobLimits,
  now: number,
  errors: string[],
  defaultDelay?: number,
): { schedule: Schedule; due: number } | undefined {
  if (dto.run_at != null && dto.delay_seconds != null) {
    errors.push('delay_seconds and run_at are mutually exclusive: give one of them');
    return undefined;
  }
  if (dto.run_at != null) {
    const runAt = parseInstant(dto.run_at);
    if (runAt === undefined) errors.push(instantMessage('run_at'));
    else if (runAt - now > limits.maxDelaySeconds * 1_000) {
      errors.push(`run_at must not be more than ${limits.maxDelaySeconds} seconds ahead (JOB_MAX_DELAY_SECONDS)`);
    } else return { schedule: { run_at: runAt }, due: Math.max(runAt, now) };
    return undefined;
  }
  const delay = dto.delay_seconds ?? defaultDelay;
  if (delay === undefined) errors.push('delay_seconds or run_at is required');
  else if (delay > limits.maxDelaySeconds)
    errors.push(`delay_seconds must not be greater than ${limits.maxDelaySeconds}`);
  else return { schedule: { delay_seconds: delay }, due: now + delay * 1_000 };
  return undefined;
}

/**
 * Applies the defaults (for absent, null and, for message, empty values) and checks what depends on
 * configuration or on the clock: the upper bounds, `run_at` at most JOB_MAX_DELAY_SECONDS ahead of `now`, and
 * `expires_at` after the due time. A `run_at` in the past is kept as asked (the job runs now).
 */
export function resolveJobSpec(dto: RegisterJobDto, limits: JobLimits, now: number = Date.now()): JobSpecResult {
  const errors: string[] = [];
  // The bound is on what the client sent; the default message is ours and always allowed.
  if (dto.message && characterLength(dto.message) > limits.messageMaxLength) {
    errors.push(`message must be shorter than or equal to ${limits.messageMaxLength} characters`);
  }
  if (dto.message && hasLoneSurrogate(dto.message)) errors.push(LONE_SURROGATE_MESSAGE);
  const resolved = resolveSchedule(dto, limits, now, errors, DEFAULT_DELAY_SECONDS);
  const maxRetry = dto.max_retry ?? DEFAULT_MAX_RETRY;
  if (maxRetry > limits.maxRetry) errors.push(`max_retry must not be greater than ${limits.maxRetry}`);
  let expiresAt: number | undefined;
  if (dto.expires_at != null) {
    expiresAt = parseInstant(dto.expires_at);
    if (expiresAt === undefined) errors.push(instantMessage('expires_at'));
    else if (resolved && expiresAt <= resolved.due) errors.push('expires_at must be after the time the job is due');
  }
  if (errors.length > 0 || !resolved) return { ok: false, errors };
  return {
    ok: true,
    data: {
      message: dto.message || DEFAULT_MESSAGE,
      ...resolved.schedule,
      max_retry: maxRetry,
      ...(expiresAt !== undefined && { expires_at: expiresAt }),
    },
  };
}

/** The new due time a PATCH body asks for: exactly one of delay_seconds (from now) and run_at. */
export function resolveReschedule(
  dto: { delay_seconds?: number | null; run_at?: string | null },
  limits: JobLimits,
  now: number = Date.now(),
): { ok: true; schedule: Schedule } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const resolved = resolveSchedule(dto, limits, now, errors);
  return resolved ? { ok: true, schedule: resolved.schedule } : { ok: false, errors };
}

/**
 * A batch's items, each checked as a register body (by `validate`: types and unknown properties, then
 * resolveJobSpec) against one clock reading: every request, or every item's messages prefixed `jobs.<index>.`.
 */
export function resolveBatch(
  items: readonly unknown[],
  validate: (item: object) => { dto: RegisterJobDto } | { errors: string[] },
  limits: JobLimits,
  now: number = Date.now(),
): { ok: true; requests: JobRequest[] } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const requests: JobRequest[] = [];
  items.forEach((item, index) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      errors.push(`jobs.${index} must be a JSON object`);
      return;
    }
    const checked = validate(item);
    const spec = 'errors' in checked ? checked : resolveJobSpec(checked.dto, limits, now);
    if ('data' in spec) requests.push(spec.data);
    else errors.push(...spec.errors.map((message) => `jobs.${index}.${message}`));
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, requests };
}
