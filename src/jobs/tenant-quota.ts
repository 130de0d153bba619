// The tenant's pending-job quota (SPEC 6.3): which Redis key counts a tenant's not-yet-started jobs, and the
// Lua scripts that reserve a place in it in the same round trip as the job's add.
import { createHash } from 'node:crypto';

/**
 * `<prefix>:tenant:<sha256(subject)>:pending`, a sorted set of the tenant's job ids that have not started
 * (score: registration time, ms). The queue prefix's hash tag keeps it in the queue's Redis Cluster slot; it is
 * bounded by TENANT_MAX_PENDING_JOBS and disappears with its last member.
 */
export function pendingJobsKey(queuePrefix: string, subject: string): string {
  return `${queuePrefix}:tenant:${createHash('sha256').update(subject, 'utf8').digest('hex')}:pending`;
}

/** How many of a tenant's oldest entries a refusal checks for ones whose release never reached Redis. */
export const STALE_ENTRIES_CHECKED = 100;

/** Field of the placeholder hash that stands where a refused job would have gone. */
const REFUSED_FIELD = 'dm-quota-refused';

/** How long a placeholder outlives its refusal should its removal never reach Redis. */
export const PLACEHOLDER_TTL_MS = 60_000;

/**
 * Runs just before the job's add, on the same connection: takes a place in the tenant's pending set, or refuses.
 * A refusal leaves a placeholder hash under the job's key, so the BullMQ add that follows finds the id taken and
 * stores nothing (its documented behaviour for an existing job id); RELEASE_PLACEHOLDER_LUA then deletes the
 * placeholder, which otherwise expires. Before refusing, entries of jobs that are gone or finished (their release
 * was lost, say with a dying worker, or the add never reached Redis) are dropped, so a lost release cannot
 * shrink a quota for good.
 *
 * KEYS: the tenant's pending set, the new job's hash. ARGV: job id, limit, registration time (ms), the queue's job
 * key prefix (`<prefix>:<queue>:`), the number of entries to check, the placeholder's expiry (ms).
 * Returns 1 when the job may be added, 0 when the quota is full.
 */
export const RESERVE_LUA = `
local count = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[2])
if count >= limit then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[5]) - 1)) do
    local jobKey = ARGV[4] .. id
    if redis.call('EXISTS', jobKey) == 0 or redis.call('HEXISTS', jobKey, 'finishedOn') == 1 then
      redis.call('ZREM', KEYS[1], id)
      count = count - 1
    end
  end
end
if count >= limit then
  redis.call('HSET', KEYS[2], '${REFUSED_FIELD}', '1')
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`;

/** After a refusal's add: removes the placeholder it left. KEYS: the job's hash. */
export const RELEASE_PLACEHOLDER_LUA = `
if redis.call('HEXISTS', KEYS[1], '${REFUSED_FIELD}') == 1 then redis.call('DEL', KEYS[1]) end
return 0
`;
