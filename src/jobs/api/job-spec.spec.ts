import { DEFAULT_DELAY_SECONDS, DEFAULT_MAX_RETRY, DEFAULT_MESSAGE } from '../job';
import { characterLength, JobLimits, parseInstant, resolveBatch, resolveJobSpec, resolveReschedule } from './job-spec';
import type { RegisterJobDto } from './dto/register-job.dto';

// 30 characters: long enough for the default message (25), short enough to build messages at the limit.
const limits: JobLimits = { maxDelaySeconds: 2_592_000, maxRetry: 100, messageMaxLength: 30 };

describe('characterLength', () => {
  it.each([
    ['', 0],
    ['abc', 3],
    ['é', 1],
    ['😀', 1],
    ['😀😀a', 3],
    ['日本語', 3],
  ])('should count %j as %i characters', (text, length) => {
    expect(characterLength(text)).toBe(length);
  });
});

describe('resolveJobSpec', () => {
  it('should apply the defaults when every field is absent', () => {
    expect(resolveJobSpec({}, limits)).toEqual({
      ok: true,
      data: { message: 'Job executed successfully', delay_seconds: 180, max_retry: 10 },
    });
  });

  it('should apply the defaults when every field is null', () => {
    expect(resolveJobSpec({ message: null, delay_seconds: null, max_retry: null }, limits)).toEqual({
      ok: true,
      data: { message: DEFAULT_MESSAGE, delay_seconds: DEFAULT_DELAY_SECONDS, max_retry: DEFAULT_MAX_RETRY },
    });
  });

  it('should use the default message for an empty message', () => {
    expect(resolveJobSpec({ message: '' }, limits)).toEqual({
      ok: true,
      data: { message: 'Job executed successfully', delay_seconds: 180, max_retry: 10 },
    });
  });

  it('should keep an explicit 0 for delay_seconds and max_retry', () => {
    expect(resolveJobSpec({ message: 'hi', delay_seconds: 0, max_retry: 0 }, limits)).toEqual({
      ok: true,
      data: { message: 'hi', delay_seconds: 0, max_retry: 0 },
    });
  });

  it('should keep a message made only of a space (not empty)', () => {
    expect(resolveJobSpec({ message: ' ' }, limits)).toEqual({
      ok: true,
      data: { message: ' ', delay_seconds: 180, max_retry: 10 },
    });
  });

  it('should accept delay_seconds at the limit', () => {
    expect(resolveJobSpec({ delay_seconds: 2_592_000 }, limits)).toEqual({
      ok: true,
      data: { message: DEFAULT_MESSAGE, delay_seconds: 2_592_000, max_retry: 10 },
    });
  });

  it('should refuse delay_seconds one past the limit', () => {
    expect(resolveJobSpec({ delay_seconds: 2_592_001 }, limits)).toEqual({
      ok: false,
      errors: ['delay_seconds must not be greater than 2592000'],
    });
  });

  it('should accept max_retry at the limit', () => {
    expect(resolveJobSpec({ max_retry: 100 }, limits)).toEqual({
      ok: true,
      data: { message: DEFAULT_MESSAGE, delay_seconds: 180, max_retry: 100 },
    });
  });

  it('should refuse max_retry one past the limit', () => {
    expect(resolveJobSpec({ max_retry: 101 }, limits)).toEqual({
      ok: false,
      errors: ['max_retry must not be greater than 100'],
    });
  });

  it('should accept a message of exactly the limit in ASCII and refuse one more character', () => {
    expect(resolveJobSpec({ message: 'a'.repeat(30) }, limits)).toMatchObject({ ok: true });
    expect(resolveJobSpec({ message: 'a'.repeat(31) }, limits)).toEqual({
      ok: false,
      errors: ['message must be shorter than or equal to 30 characters'],
    });
  });

  it('should count emoji as one character each: the limit accepted, one more refused', () => {
    const atLimit = '😀'.repeat(30); // 60 UTF-16 code units, 30 characters
    expect(resolveJobSpec({ message: atLimit }, limits)).toEqual({
      ok: true,
      data: { message: atLimit, delay_seconds: 180, max_retry: 10 },
    });
    expect(resolveJobSpec({ message: '😀'.repeat(31) }, limits)).toEqual({
      ok: false,
      errors: ['message must be shorter than or equal to 30 characters'],
    });
  });

  it('should count "é" as one character: the limit accepted, one more refused', () => {
    expect(resolveJobSpec({ message: 'é'.repeat(30) }, limits)).toMatchObject({ ok: true });
    expect(resolveJobSpec({ message: 'é'.repeat(31) }, limits)).toEqual({
      ok: false,
      errors: ['message must be shorter than or equal to 30 characters'],
    });
  });

  it('should report every violated bound at once', () => {
    expect(resolveJobSpec({ message: 'x'.repeat(31), delay_seconds: 2_592_001, max_retry: 101 }, limits)).toEqual({
      ok: false,
      errors: [
        'message must be shorter than or equal to 30 characters',
        'delay_seconds must not be greater than 2592000',
        'max_retry must not be greater than 100',
      ],
    });
  });

  it('should use the configured limits, not the defaults', () => {
    const tight: JobLimits = { maxDelaySeconds: 5, maxRetry: 1, messageMaxLength: 1 };

    expect(resolveJobSpec({ message: 'ab', delay_seconds: 6, max_retry: 2 }, tight)).toEqual({
      ok: false,
      errors: [
        'message must be shorter than or equal to 1 characters',
        'delay_seconds must not be greater than 5',
        'max_retry must not be greater than 1',
      ],
    });
  });

  it('should allow the default message even when the limit is shorter than it', () => {
    const short: JobLimits = { maxDelaySeconds: 2_592_000, maxRetry: 100, messageMaxLength: 5 };

    expect(resolveJobSpec({}, short)).toEqual({
      ok: true,
      data: { message: 'Job executed successfully', delay_seconds: 180, max_retry: 10 },
    });
    expect(resolveJobSpec({ message: '' }, short)).toMatchObject({ ok: true });
    expect(resolveJobSpec({ message: 'sixsix' }, short)).toEqual({
      ok: false,
      errors: ['message must be shorter than or equal to 5 characters'],
    });
  });

  it('should refuse the default delay when the configured maximum is below it', () => {
    expect(resolveJobSpec({}, { maxDelaySeconds: 60, maxRetry: 100, messageMaxLength: 30 })).toEqual({
      ok: false,
      errors: ['delay_seconds must not be greater than 60'],
    });
  });
});

describe('parseInstant', () => {
  it.each([
    ['2026-12-01T09:00:00Z', Date.UTC(2026, 11, 1, 9)],
    ['2026-12-01T18:00:00+09:00', Date.UTC(2026, 11, 1, 9)],
    ['2026-12-01T04:30:00-04:30', Date.UTC(2026, 11, 1, 9)],
    ['2026-12-01t09:00:00z', Date.UTC(2026, 11, 1, 9)],
    ['2026-12-01T09:00:00.5Z', Date.UTC(2026, 11, 1, 9, 0, 0, 500)],
    ['2026-12-01T09:00:00.123456789Z', Date.UTC(2026, 11, 1, 9, 0, 0, 123)],
    ['2028-02-29T00:00:00Z', Date.UTC(2028, 1, 29)],
    ['2026-12-01T09:00:00+00:00', Date.UTC(2026, 11, 1, 9)],
  ])('should read %s', (text, instant) => {
    expect(parseInstant(text)).toBe(instant);
  });

  it('should cut a long fraction to the millisecond, never round it into the next second', () => {
    expect(parseInstant('2026-12-31T23:59:59.99999999999999999Z')).toBe(Date.UTC(2026, 11, 31, 23, 59, 59, 999));
  });

  it('should read the years 0 to 99 as themselves, not as 1900 to 1999', () => {
    expect(new Date(parseInstant('0050-01-01T00:00:00Z')!).getUTCFullYear()).toBe(50);
    expect(parseInstant('0000-02-29T00:00:00Z')).toBeDefined(); // year 0 is a leap year
  });

  it.each([
    ['no offset', '2026-12-01T09:00:00'],
    ['a date only', '2026-12-01'],
    ['a space instead of T', '2026-12-01 09:00:00Z'],
    ['February 30', '2026-02-30T00:00:00Z'],
    ['February 29 of a common year', '2027-02-29T00:00:00Z'],
    ['month 13', '2026-13-01T00:00:00Z'],
    ['day 0', '2026-12-00T00:00:00Z'],
    ['hour 24', '2026-12-01T24:00:00Z'],
    ['minute 60', '2026-12-01T09:60:00Z'],
    ['a leap second', '2026-12-31T23:59:60Z'],
    ['an offset hour 24', '2026-12-01T09:00:00+24:00'],
    ['an offset without a colon', '2026-12-01T09:00:00+0900'],
    ['a trailing newline', '2026-12-01T09:00:00Z\n'],
    ['epoch seconds', '1796173033'],
    ['an empty string', ''],
  ])('should refuse %s', (_, text) => {
    expect(parseInstant(text)).toBeUndefined();
  });
});

describe('resolveJobSpec with run_at and expires_at', () => {
  const now = Date.UTC(2026, 11, 1, 9);
  const at = (ms: number) => new Date(ms).toISOString();

  it('should keep run_at as asked, instead of a delay', () => {
    expect(resolveJobSpec({ message: 'm', run_at: at(now + 90_500) }, limits, now)).toEqual({
      ok: true,
      data: { message: 'm', run_at: now + 90_500, max_retry: 10 },
    });
  });

  it('should keep a past run_at as asked (the job runs now)', () => {
    expect(resolveJobSpec({ run_at: '2020-01-01T00:00:00+09:00' }, limits, now)).toMatchObject({
      ok: true,
      data: { run_at: Date.UTC(2019, 11, 31, 15) },
    });
  });

  it('should treat a null run_at as absent', () => {
    expect(resolveJobSpec({ run_at: null, delay_seconds: 5 }, limits, now)).toMatchObject({
      ok: true,
      data: { delay_seconds: 5 },
    });
  });

  it('should refuse run_at together with delay_seconds, even a zero delay', () => {
    expect(resolveJobSpec({ run_at: at(now), delay_seconds: 0 }, limits, now)).toEqual({
      ok: false,
      errors: ['delay_seconds and run_at are mutually exclusive: give one of them'],
    });
  });

  it('should refuse a run_at without an offset, naming the field', () => {
    expect(resolveJobSpec({ run_at: '2026-12-01T09:00:00' }, limits, now)).toEqual({
      ok: false,
      errors: [expect.stringMatching(/^run_at must be an RFC 3339 date-time with Z or an offset/)],
    });
  });

  it('should accept run_at exactly JOB_MAX_DELAY_SECONDS ahead and refuse a millisecond more', () => {
    const max = limits.maxDelaySeconds * 1_000;
    expect(resolveJobSpec({ run_at: at(now + max) }, limits, now)).toMatchObject({ ok: true });
    expect(resolveJobSpec({ run_at: at(now + max + 1) }, limits, now)).toEqual({
      ok: false,
      errors: ['run_at must not be more than 2592000 seconds ahead (JOB_MAX_DELAY_SECONDS)'],
    });
  });

  it('should keep expires_at when it is after the due time', () => {
    expect(resolveJobSpec({ delay_seconds: 10, expires_at: at(now + 10_001) }, limits, now)).toMatchObject({
      ok: true,
      data: { delay_seconds: 10, expires_at: now + 10_001 },
    });
  });

  it.each([
    ['at the due time', { delay_seconds: 10, expires_at: at(now + 10_000) }],
    ['before the due time', { run_at: at(now + 60_000), expires_at: at(now + 30_000) }],
    ['before now, with a past run_at (due now)', { run_at: at(now - 60_000), expires_at: at(now - 1) }],
  ])('should refuse expires_at %s', (_, dto) => {
    expect(resolveJobSpec(dto, limits, now)).toEqual({
      ok: false,
      errors: ['expires_at must be after the time the job is due'],
    });
  });

  it('should refuse a malformed expires_at, naming the field, with the other errors', () => {
    expect(resolveJobSpec({ max_retry: 101, expires_at: 'tomorrow' }, limits, now)).toEqual({
      ok: false,
      errors: [
        'max_retry must not be greater than 100',
        expect.stringMatching(/^expires_at must be an RFC 3339 date-time with Z or an offset/),
      ],
    });
  });
});

describe('resolveReschedule', () => {
  const now = Date.UTC(2026, 11, 1, 9);

  it('should take delay_seconds from now, or run_at as asked', () => {
    expect(resolveReschedule({ delay_seconds: 0 }, limits, now)).toEqual({ ok: true, schedule: { delay_seconds: 0 } });
    expect(resolveReschedule({ run_at: '2026-12-01T18:00:00+09:00' }, limits, now)).toEqual({
      ok: true,
      schedule: { run_at: now },
    });
  });

  it.each([
    ['neither field', {}, 'delay_seconds or run_at is required'],
    ['both nulls', { delay_seconds: null, run_at: null }, 'delay_seconds or run_at is required'],
    [
      'both fields',
      { delay_seconds: 1, run_at: '2026-12-01T09:00:00Z' },
      'delay_seconds and run_at are mutually exclusive: give one of them',
    ],
    ['a delay beyond the maximum', { delay_seconds: 2_592_001 }, 'delay_seconds must not be greater than 2592000'],
  ])('should refuse %s', (_, dto, message) => {
    expect(resolveReschedule(dto, limits, now)).toEqual({ ok: false, errors: [message] });
  });
});

describe('resolveJobSpec and Unicode', () => {
  it.each(['bad \ud800 surrogate', '\udfff', 'x\ud83d'])(
    'should refuse a message with a lone surrogate (%j)',
    (message) => {
      expect(resolveJobSpec({ message }, limits)).toEqual({
        ok: false,
        errors: ['message must be Unicode text: it holds a lone UTF-16 surrogate'],
      });
    },
  );

  it('should accept a message with whole surrogate pairs', () => {
    expect(resolveJobSpec({ message: '😀😀' }, limits)).toMatchObject({ ok: true, data: { message: '😀😀' } });
  });
});

describe('resolveBatch', () => {
  const now = Date.UTC(2026, 11, 1, 9);
  // Stands in for the body validation (unknown properties, types): refuses any "bad" property.
  const validate = (item: object) =>
    'bad' in item ? { errors: ['property bad should not exist'] } : { dto: item as RegisterJobDto };

  it('should resolve every item against one clock reading', () => {
    expect(resolveBatch([{}, { delay_seconds: 0, message: 'm' }], validate, limits, now)).toEqual({
      ok: true,
      requests: [
        { message: DEFAULT_MESSAGE, delay_seconds: 180, max_retry: 10 },
        { message: 'm', delay_seconds: 0, max_retry: 10 },
      ],
    });
  });

  it("should prefix every item's messages with its index, and name items that are not objects", () => {
    expect(
      resolveBatch([{}, { bad: 1 }, 5, null, [], { delay_seconds: 2_592_001, max_retry: 101 }], validate, limits, now),
    ).toEqual({
      ok: false,
      errors: [
        'jobs.1.property bad should not exist',
        'jobs.2 must be a JSON object',
        'jobs.3 must be a JSON object',
        'jobs.4 must be a JSON object',
        'jobs.5.delay_seconds must not be greater than 2592000',
        'jobs.5.max_retry must not be greater than 100',
      ],
    });
  });
});
