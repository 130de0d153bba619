import { DEFAULT_MAX_RETRY, DEFAULT_MESSAGE } from '../job';
import { parseExpression } from 'cron-parser';
import {
  cronProblem,
  isTimeZone,
  resolveScheduleSpec,
  ScheduleLimits,
  serverTimeZone,
  smallestGapMs,
} from './schedule-spec';

const NOW = Date.UTC(2026, 11, 1, 0, 0, 0);
const limits: ScheduleLimits = { maxDelaySeconds: 86_400, maxRetry: 20, messageMaxLength: 20, minIntervalSeconds: 60 };
const MIN_GAP = 'cron must not have occurrences less than 60 seconds apart (SCHEDULE_MIN_INTERVAL_SECONDS)';
const FIELDS = 'cron must be a cron expression of 5 fields, or 6 with seconds first, such as "0 9 * * 1-5"';

describe('isTimeZone', () => {
  it.each(['Asia/Tokyo', 'America/New_York', 'UTC', 'Europe/London', 'Asia/Kathmandu'])('should accept %s', (zone) => {
    expect(isTimeZone(zone)).toBe(true);
  });

  it.each(['Mars/Olympus', '+09:00', 'GMT+9', '', ' Asia/Tokyo', 'Asia/Tokyo\n', '../../etc/passwd'])(
    'should refuse %j',
    (zone) => {
      expect(isTimeZone(zone)).toBe(false);
    },
  );
});

describe('smallestGapMs', () => {
  it.each([
    [{ second: [0], minute: [0], hour: [9] }, 86_400_000],
    [{ second: [0], minute: [0, 30], hour: [9] }, 1_800_000],
    [{ second: [0], minute: [0], hour: [0, 23] }, 3_600_000],
    [{ second: [0, 59], minute: [59], hour: [23] }, 59_000],
    [{ second: [0], minute: [59], hour: [22, 23] }, 3_600_000],
    [{ second: [0], minute: [0], hour: [0, 1] }, 3_600_000],
  ])('should find the least gap of %j: %d ms', (fields, gap) => {
    expect(smallestGapMs(fields)).toBe(gap);
  });
});

describe('cronProblem', () => {
  it.each([
    ['0 9 * * 1-5', 'Asia/Tokyo'],
    ['*/5 * * * *', 'UTC'],
    ['0 */1 * * * *', 'UTC'],
    ['0 0 1 1 *', 'America/New_York'],
    ['0 9 L * *', 'UTC'],
  ])('should accept %s in %s', (cron, tz) => {
    expect(cronProblem(cron, tz, NOW, undefined, 60_000)).toBeUndefined();
  });

  it.each([
    ['* * * * * *', MIN_GAP],
    ['*/30 * * * * *', MIN_GAP],
    // Two occurrences a minute apart only at 9:00 and 9:01, in the middle of the day's list.
    ['0,30 9 * * *', undefined],
    ['0,1 9 * * *', undefined],
    ['0,30 0 9 * * *', MIN_GAP],
    ['* * * *', FIELDS],
    ['* * * * * * *', FIELDS],
    ['@daily', FIELDS],
    ['0 9 * * * ; rm', FIELDS],
    ['61 * * * *', 'cron is not a valid cron expression: Constraint error, got value 61 expected range 0-59'],
    ['0 0 30 2 *', 'cron is not a valid cron expression: Invalid explicit day of month definition'],
  ])('should find %j wanting: %s', (cron, problem) => {
    expect(cronProblem(cron, 'UTC', NOW, undefined, 60_000)).toBe(problem);
  });

  it('should see the smallest gap of the whole day, not only of the first occurrences', () => {
    // Once an hour, except for a second occurrence 30 s after the hour at 23:00.
    expect(cronProblem('0 0 * * * *', 'UTC', NOW, undefined, 60_000)).toBeUndefined();
    expect(cronProblem('0,30 0 23 * * *', 'UTC', NOW, undefined, 60_000)).toBe(MIN_GAP);
  });

  it('should check a cron that matches every minute in milliseconds, not by stepping through its occurrences', () => {
    const started = process.hrtime.bigint();
    expect(cronProblem('* * * * *', 'America/New_York', NOW, undefined, 60_000)).toBeUndefined();
    // A generous bound: stepping through 1 000 occurrences took over 300 ms on the CI machine.
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(100);
  });

  it('should refuse a cron with no occurrence before the end', () => {
    expect(cronProblem('0 9 1 1 *', 'UTC', NOW, NOW + 86_400_000, 60_000)).toBe(
      'cron has no occurrence between start_at and end_at',
    );
  });
});

describe('resolveScheduleSpec', () => {
  const iso = (ms: number) => new Date(ms).toISOString();

  it('should apply the defaults: message, max_retry, the server zone', () => {
    expect(resolveScheduleSpec({ every_seconds: 60 }, limits, NOW)).toEqual({
      ok: true,
      request: { message: DEFAULT_MESSAGE, max_retry: DEFAULT_MAX_RETRY, every_seconds: 60, tz: serverTimeZone() },
    });
  });

  it('should keep what was asked, with the cron spaced once and the instants in ms', () => {
    const body = {
      message: 'stand-up',
      cron: ' 0  9 * * 1-5 ',
      tz: 'Asia/Tokyo',
      start_at: '2026-12-01T09:00:00+09:00',
      end_at: iso(NOW + 3_600_000 * 72),
      limit: 3,
      max_retry: 0,
    };
    expect(resolveScheduleSpec(body, limits, NOW)).toEqual({
      ok: true,
      request: {
        message: 'stand-up',
        cron: '0 9 * * 1-5',
        tz: 'Asia/Tokyo',
        start_at: Date.UTC(2026, 11, 1, 0, 0, 0),
        end_at: NOW + 3_600_000 * 72,
        limit: 3,
        max_retry: 0,
      },
    });
  });

  it.each([
    [{}, ['cron or every_seconds is required']],
    [{ cron: '0 9 * * *', every_seconds: 60 }, ['cron and every_seconds are mutually exclusive: give one of them']],
    [{ every_seconds: 59 }, ['every_seconds must not be less than 60 (SCHEDULE_MIN_INTERVAL_SECONDS)']],
    [{ every_seconds: 10 * 365 * 86_400 + 1 }, ['every_seconds must not be greater than 315360000']],
    [{ cron: '* * * * *', tz: 'Nowhere/Land' }, ['tz must be an IANA time zone name, such as Asia/Tokyo or UTC']],
    [{ every_seconds: 60, end_at: iso(NOW - 1) }, ['end_at must be in the future']],
    [
      { every_seconds: 60, start_at: iso(NOW + 7_200_000), end_at: iso(NOW + 3_600_000) },
      ['end_at must be after start_at'],
    ],
    [
      { every_seconds: 60, start_at: iso(NOW + 86_401_000) },
      ['start_at must not be more than 86400 seconds ahead (JOB_MAX_DELAY_SECONDS)'],
    ],
    [{ every_seconds: 60, max_retry: 21 }, ['max_retry must not be greater than 20']],
    [{ every_seconds: 60, message: 'x'.repeat(21) }, ['message must be shorter than or equal to 20 characters']],
    [{ every_seconds: 60, message: '\ud800' }, ['message must be Unicode text: it holds a lone UTF-16 surrogate']],
  ])('should refuse %j naming the field', (body, errors) => {
    expect(resolveScheduleSpec(body, limits, NOW)).toEqual({ ok: false, errors });
  });

  it('should check the cron from start_at, in its zone, up to end_at', () => {
    // 9:00 in Tokyo is 0:00Z; from 1:00Z there is none before 23:00Z the same day.
    const body = { cron: '0 9 * * *', tz: 'Asia/Tokyo', start_at: iso(NOW + 3_600_000), end_at: iso(NOW + 82_800_000) };
    expect(resolveScheduleSpec(body, limits, NOW)).toEqual({
      ok: false,
      errors: ['cron has no occurrence between start_at and end_at'],
    });
  });
});

describe('a cron across the night the clocks go back (as BullMQ steps it: the next time after the previous one)', () => {
  it('should run a time of day the clock passes twice once', () => {
    // New York goes back to standard time on the first Sunday of November at 2:00: 1:30 happens twice that night.
    const year = new Date().getUTCFullYear() + 1;
    const sunday = 1 + ((7 - new Date(Date.UTC(year, 10, 1)).getUTCDay()) % 7);
    const next = (after: number) =>
      (
        parseExpression('30 1 * * *', { tz: 'America/New_York', currentDate: new Date(after) }).next() as {
          getTime(): number;
        }
      ).getTime();
    const first = next(Date.UTC(year, 10, sunday, 0, 0));
    expect(new Date(first).toISOString()).toBe(new Date(Date.UTC(year, 10, sunday, 5, 30)).toISOString());
    // Not the second 1:30 of that night (6:30Z), but 1:30 the next night, in standard time.
    expect(new Date(next(first)).toISOString()).toBe(new Date(Date.UTC(year, 10, sunday + 1, 6, 30)).toISOString());
  });
});
