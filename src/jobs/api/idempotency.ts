// The pure parts of Idempotency-Key handling: key format, request fingerprint, Redis key and stored record.
import { createHash } from 'node:crypto';
import type { JobRequest } from '../job';
import type { ScheduleRequest } from '../schedule';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** How long a key is remembered after the first request with it was stored (SPEC 6.1: 24 h). */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1_000;

export const INVALID_KEY_MESSAGE = 'Idempotency-Key must be 1 to 255 printable ASCII characters';

// Printable ASCII: space to tilde. Control characters and anything beyond ASCII are refused.
const KEY = /^[\x20-\x7e]{1,255}$/;

export function isIdempotencyKey(value: string): boolean {
  return KEY.test(value);
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * A request's canonical fields: the job after the defaults, so `{}` and `{"delay_seconds":180}` are the same
 * request, with times as instants (so `...T09:00:00Z` and `...T18:00:00+09:00` are too). A request with neither
 * run_at nor expires_at keeps the fields it had before they existed, so its fingerprint is unchanged.
 */
function canonical(request: JobRequest): unknown[] {
  if (request.run_at === undefined && request.expires_at === undefined) {
    return [request.message, request.delay_seconds, request.max_retry];
  }
  return [
    request.message,
    request.delay_seconds ?? null,
    request.run_at ?? null,
    request.max_retry,
    request.expires_at ?? null,
  ];
}

/** The fingerprint of a register request; the hash keeps the message itself out of Redis. */
export function requestFingerprint(request: JobRequest): string {
  const fields = canonical(request);
  return sha256(JSON.stringify([fields.length === 3 ? 'register/v1' : 'register/v2', ...fields]));
}

/** The fingerprint of a batch: its items' canonical fields, in order. */
export function batchFingerprint(requests: readonly JobRequest[]): string {
  return sha256(JSON.stringify(['register-batch/v1', ...requests.map(canonical)]));
}

/** The fingerprint of a schedule request, after the defaults (the zone included), times as instants. */
export function scheduleFingerprint(request: ScheduleRequest): string {
  return sha256(
    JSON.stringify([
      'schedule/v1',
      request.message,
      request.max_retry,
      request.cron ?? null,
      request.every_seconds ?? null,
      request.tz,
      request.start_at ?? null,
      request.end_at ?? null,
      request.limit ?? null,
    ]),
  );
}

/**
 * `<prefix>:idempotency:<sha256(subject)>:<sha256(key)>`: the queue prefix's hash tag puts it in the queue's
 * Redis Cluster slot, and hashing means neither the key nor the token subject is stored as sent.
 */
export function idempotencyRedisKey(queuePrefix: string, subject: string, key: string): string {
  return `${queuePrefix}:idempotency:${sha256(subject)}:${sha256(key)}`;
}

/**
 * What Redis holds for a key: the request it was first used with and its (first) job; once stored, `run_at` and the
 * answer to replay. Records written before `answer` existed hold only `run_at`.
 */
export interface IdempotencyRecord {
  fingerprint: string;
  job_id: string;
  /** Absent while the first request is still storing its jobs ("pending"). */
  run_at?: string;
  /** The first request's answer body, replayed as it was. */
  answer?: unknown;
}

export function encodeRecord(record: IdempotencyRecord): string {
  const { fingerprint, job_id, run_at, answer } = record;
  if (run_at === undefined) return JSON.stringify({ fingerprint, job_id });
  return JSON.stringify(
    answer === undefined ? { fingerprint, job_id, run_at } : { fingerprint, job_id, run_at, answer },
  );
}

/** The record, or undefined for a value this service did not write. */
export function decodeRecord(value: string): IdempotencyRecord | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { fingerprint, job_id, run_at, answer } = parsed as Record<string, unknown>;
  if (typeof fingerprint !== 'string' || typeof job_id !== 'string') return undefined;
  if (run_at === undefined) return { fingerprint, job_id };
  if (typeof run_at !== 'string') return undefined;
  return answer === undefined ? { fingerprint, job_id, run_at } : { fingerprint, job_id, run_at, answer };
}

/**
 * The job ids of a batch registered under an Idempotency-Key: UUID v4s drawn from a random seed, so that its record
 * holds the seed rather than every id (a record the same size whatever the batch's).
 */
export function batchJobIds(seed: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => {
    const bytes = createHash('sha256').update(`${seed}:${index}`, 'utf8').digest().subarray(0, 16);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    const hex = bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  });
}
