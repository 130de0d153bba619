// The pure parts of Idempotency-Key handling: key format, request fingerprint, Redis key and stored record.
import { createHash } from 'node:crypto';
import type { JobRequest } from '../job';

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
 * The effective request: the job data after the defaults, so `{}` and `{"delay_seconds":180}` are the same
 * request. A fixed field order makes it canonical; the hash keeps the message itself out of Redis.
 */
export function requestFingerprint(data: JobRequest): string {
  return sha256(JSON.stringify(['register/v1', data.message, data.delay_seconds, data.max_retry]));
}

/**
 * `<prefix>:idempotency:<sha256(subject)>:<sha256(key)>`: the queue prefix's hash tag puts it in the queue's
 * Redis Cluster slot, and hashing means neither the key nor the token subject is stored as sent.
 */
export function idempotencyRedisKey(queuePrefix: string, subject: string, key: string): string {
  return `${queuePrefix}:idempotency:${sha256(subject)}:${sha256(key)}`;
}

/** What Redis holds for a key: the request it was first used with and its job; `run_at` once the job is stored. */
export interface IdempotencyRecord {
  fingerprint: string;
  job_id: string;
  /** Absent while the first request is still storing its job ("pending"). */
  run_at?: string;
}

export function encodeRecord(record: IdempotencyRecord): string {
  const { fingerprint, job_id, run_at } = record;
  return JSON.stringify(run_at === undefined ? { fingerprint, job_id } : { fingerprint, job_id, run_at });
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
  const { fingerprint, job_id, run_at } = parsed as Record<string, unknown>;
  if (typeof fingerprint !== 'string' || typeof job_id !== 'string') return undefined;
  if (run_at !== undefined && typeof run_at !== 'string') return undefined;
  return run_at === undefined ? { fingerprint, job_id } : { fingerprint, job_id, run_at };
}
