import {
  batchFingerprint,
  batchJobIds,
  decodeRecord,
  encodeRecord,
  idempotencyRedisKey,
  isIdempotencyKey,
  requestFingerprint,
} from './idempotency';
import { createHash } from 'node:crypto';
import { DEFAULT_DELAY_SECONDS, DEFAULT_MAX_RETRY, DEFAULT_MESSAGE, JobRequest } from '../job';
import { resolveJobSpec } from './job-spec';

const limits = { maxDelaySeconds: 3600, maxRetry: 20, messageMaxLength: 100 };
const resolved = (body: object): JobRequest => {
  const spec = resolveJobSpec(body, limits);
  if (!spec.ok) throw new Error(spec.errors.join());
  return spec.data;
};

describe('isIdempotencyKey', () => {
  it.each([
    ['one character', 'a'],
    ['a UUID', '0b8f4c2e-7a1d-4e3b-9c5f-1a2b3c4d5e6f'],
    ['255 characters', 'k'.repeat(255)],
    ['every printable ASCII character', Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('')],
  ])('should accept %s', (_, key) => {
    expect(isIdempotencyKey(key)).toBe(true);
  });

  it.each([
    ['an empty key', ''],
    ['256 characters', 'k'.repeat(256)],
    ['a tab', 'a\tb'],
    ['a newline', 'a\nb'],
    ['DEL', 'a\x7fb'],
    ['a non-ASCII letter', 'clé'],
    ['an emoji', 'key-😀'],
  ])('should refuse %s', (_, key) => {
    expect(isIdempotencyKey(key)).toBe(false);
  });
});

describe('requestFingerprint', () => {
  it('should be a sha256 in hex', () => {
    expect(requestFingerprint(resolved({}))).toMatch(/^[0-9a-f]{64}$/);
  });

  it('should treat a request and its explicit defaults as the same request', () => {
    const explicit = { message: DEFAULT_MESSAGE, delay_seconds: DEFAULT_DELAY_SECONDS, max_retry: DEFAULT_MAX_RETRY };

    expect(requestFingerprint(resolved({}))).toBe(requestFingerprint(resolved({ delay_seconds: 180 })));
    expect(requestFingerprint(resolved({}))).toBe(requestFingerprint(resolved(explicit)));
    expect(requestFingerprint(resolved({ message: '' }))).toBe(requestFingerprint(resolved({ message: null })));
  });

  it('should not depend on the order of the fields', () => {
    expect(requestFingerprint({ message: 'm', delay_seconds: 1, max_retry: 2 })).toBe(
      requestFingerprint({ max_retry: 2, delay_seconds: 1, message: 'm' }),
    );
  });

  it.each<[string, JobRequest]>([
    ['message', { message: 'other', delay_seconds: 1, max_retry: 2 }],
    ['delay_seconds', { message: 'm', delay_seconds: 2, max_retry: 2 }],
    ['max_retry', { message: 'm', delay_seconds: 1, max_retry: 3 }],
  ])('should change with %s', (_, data) => {
    expect(requestFingerprint(data)).not.toBe(requestFingerprint({ message: 'm', delay_seconds: 1, max_retry: 2 }));
  });

  it('should not let one field run into the next', () => {
    expect(requestFingerprint({ message: '1', delay_seconds: 23, max_retry: 4 })).not.toBe(
      requestFingerprint({ message: '12', delay_seconds: 3, max_retry: 4 }),
    );
  });
});

describe('requestFingerprint with run_at and expires_at', () => {
  it('should keep the fingerprint of a delay-only request as it was before run_at existed', () => {
    const before = createHash('sha256')
      .update(JSON.stringify(['register/v1', 'm', 1, 2]))
      .digest('hex');
    expect(requestFingerprint({ message: 'm', delay_seconds: 1, max_retry: 2 })).toBe(before);
  });

  it('should treat the same instant in two offsets as the same request', () => {
    const soon = new Date(Math.floor(Date.now() / 1_000) * 1_000 + 600_000);
    const inTokyo = new Date(soon.getTime() + 9 * 3_600_000).toISOString().replace('.000Z', '+09:00');
    const utc = resolved({ run_at: soon.toISOString() });
    const tokyo = resolved({ run_at: inTokyo });
    expect(requestFingerprint(utc)).toBe(requestFingerprint(tokyo));
  });

  it.each<[string, JobRequest]>([
    ['run_at instead of a delay', { message: 'm', run_at: 1, max_retry: 2 }],
    ['an expires_at', { message: 'm', delay_seconds: 1, max_retry: 2, expires_at: 5_000 }],
  ])('should change with %s', (_, request) => {
    expect(requestFingerprint(request)).not.toBe(requestFingerprint({ message: 'm', delay_seconds: 1, max_retry: 2 }));
  });
});

describe('batchFingerprint', () => {
  const a: JobRequest = { message: 'a', delay_seconds: 1, max_retry: 2 };
  const b: JobRequest = { message: 'b', run_at: 1_000, max_retry: 2, expires_at: 2_000 };

  it('should depend on the items and their order', () => {
    expect(batchFingerprint([a, b])).toBe(batchFingerprint([{ ...a }, { ...b }]));
    expect(batchFingerprint([a, b])).not.toBe(batchFingerprint([b, a]));
    expect(batchFingerprint([a])).not.toBe(batchFingerprint([a, a]));
  });

  it('should differ from the fingerprint of the single request', () => {
    expect(batchFingerprint([a])).not.toBe(requestFingerprint(a));
  });
});

describe('idempotencyRedisKey', () => {
  it('should live under the queue prefix, with the subject and the key hashed', () => {
    const key = idempotencyRedisKey('{dm-jobqueue}', 'billing-service', 'order-42');

    expect(key).toMatch(/^\{dm-jobqueue\}:idempotency:[0-9a-f]{64}:[0-9a-f]{64}$/);
    expect(key).not.toContain('billing-service');
    expect(key).not.toContain('order-42');
  });

  it('should differ by subject and by key', () => {
    const key = idempotencyRedisKey('{p}', 'a', 'k');

    expect(idempotencyRedisKey('{p}', 'b', 'k')).not.toBe(key);
    expect(idempotencyRedisKey('{p}', 'a', 'l')).not.toBe(key);
    expect(idempotencyRedisKey('{p}', 'a', 'k')).toBe(key);
  });

  it('should not let subject and key run into each other', () => {
    expect(idempotencyRedisKey('{p}', 'a:b', 'c')).not.toBe(idempotencyRedisKey('{p}', 'a', 'b:c'));
  });
});

describe('encodeRecord / decodeRecord', () => {
  const fingerprint = 'f'.repeat(64);
  const job_id = '0b8f4c2e-7a1d-4e3b-9c5f-1a2b3c4d5e6f';

  it('should round-trip a pending record (no run_at yet)', () => {
    const value = encodeRecord({ fingerprint, job_id });

    expect(JSON.parse(value)).toEqual({ fingerprint, job_id });
    expect(decodeRecord(value)).toEqual({ fingerprint, job_id });
  });

  it('should round-trip a finished record', () => {
    const record = { fingerprint, job_id, run_at: '2026-01-02T03:04:05.678Z' };

    expect(decodeRecord(encodeRecord(record))).toEqual(record);
  });

  it('should round-trip a finished record with its answer', () => {
    const record = { fingerprint, job_id, run_at: '2026-01-02T03:04:05.678Z', answer: { jobs: [{ job_id }] } };

    expect(decodeRecord(encodeRecord(record))).toEqual(record);
  });

  it.each([
    '',
    'not json',
    'null',
    '[]',
    '{"job_id":"x"}',
    '{"fingerprint":"f","job_id":1}',
    '{"fingerprint":"f","job_id":"x","run_at":5}',
  ])('should refuse %j, a value this service did not write', (value) => {
    expect(decodeRecord(value)).toBeUndefined();
  });
});

describe('batchJobIds', () => {
  const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('should draw distinct UUID v4s, the same ones for the same seed', () => {
    const ids = batchJobIds('seed-1', 1_000);
    expect(ids.every((id) => UUID_V4.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(1_000);
    expect(batchJobIds('seed-1', 3)).toEqual(ids.slice(0, 3));
    expect(batchJobIds('seed-2', 3)).not.toEqual(ids.slice(0, 3));
  });
});
