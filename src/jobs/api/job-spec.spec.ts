import { DEFAULT_DELAY_SECONDS, DEFAULT_MAX_RETRY, DEFAULT_MESSAGE } from '../job';
import { characterLength, JobLimits, resolveJobSpec } from './job-spec';

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
