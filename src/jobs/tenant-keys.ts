// The Redis keys of a tenant (a token's `sub`): `<prefix>:tenant:<sha256(sub)>:<what>`. The queue prefix's hash tag
// keeps them in the queue's Redis Cluster slot; hashing keeps the subject itself out of Redis.
import { createHash } from 'node:crypto';

/** Subjects whose hash this process remembers (a plain map, emptied when full: a miss only costs a hash). */
const REMEMBERED = 10_000;
const hashes = new Map<string, string>();

function tenantKey(queuePrefix: string, subject: string, what: string): string {
  let hash = hashes.get(subject);
  if (hash === undefined) {
    if (hashes.size >= REMEMBERED) hashes.clear();
    hash = createHash('sha256').update(subject, 'utf8').digest('hex');
    hashes.set(subject, hash);
  }
  return `${queuePrefix}:tenant:${hash}:${what}`;
}

/**
 * `…:pending`, a sorted set of the tenant's job ids that have not started (score: registration time, ms); bounded by
 * TENANT_MAX_PENDING_JOBS, gone with its last member.
 */
export const pendingJobsKey = (queuePrefix: string, subject: string): string =>
  tenantKey(queuePrefix, subject, 'pending');

/**
 * `…:expiring`: those of the tenant's pending jobs that have an expires_at (the score, ms). Each reservation first
 * drops the pending places of jobs whose expires_at has passed, so an expired job stops counting at once, whether or
 * not a worker has dropped it yet. A subset of the pending set.
 */
export const expiringJobsKey = (queuePrefix: string, subject: string): string =>
  tenantKey(queuePrefix, subject, 'expiring');

/** `…:jobs`, the tenant's job index (SPEC 6.4): its job ids by registration time (ms), see job-index.ts. */
export const tenantIndexKey = (queuePrefix: string, subject: string): string => tenantKey(queuePrefix, subject, 'jobs');

/**
 * `…:schedules`, the tenant's schedule index (SPEC 6.5): its schedule ids by creation time (ms), live and ended ones
 * (an ended one until its record expires); see schedule.ts.
 */
export const tenantSchedulesKey = (queuePrefix: string, subject: string): string =>
  tenantKey(queuePrefix, subject, 'schedules');

/** `…:live-schedules`: those of the tenant's schedules that have occurrences to come; bounded by TENANT_MAX_SCHEDULES. */
/**
 * `…:ended-schedules`: the tenant's ended schedules whose records are still kept (score: when each ended, ms); the
 * oldest go once there are more than the quota's number, so that ended records are bounded by count as well as by age.
 */
export const endedSchedulesKey = (queuePrefix: string, subject: string): string =>
  tenantKey(queuePrefix, subject, 'ended-schedules');

export const liveSchedulesKey = (queuePrefix: string, subject: string): string =>
  tenantKey(queuePrefix, subject, 'live-schedules');
