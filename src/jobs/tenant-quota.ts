// The tenant's pending-job quota (SPEC 6.3) and the job index (SPEC 6.4), kept in the same round trip as the job's
// add: the Lua script that reserves the places of a tenant's new jobs and indexes them.
import {
  DROP_STALE_SAMPLES_LUA,
  FIRST_SAMPLES_SHARE,
  INDEX_GRACE_MS,
  INDEX_SAMPLES,
  MAX_SAMPLES,
  MIN_FIRST_SAMPLES,
} from './job-index';

/** How many of a tenant's oldest entries a refusal checks for ones whose release never reached Redis. */
export const STALE_ENTRIES_CHECKED = 100;

/** Expired places one reservation releases at most (the rest go with the next ones). */
export const EXPIRED_RELEASED = 1_000;

/** Field of the placeholder hash that stands where a refused job would have gone. */
const REFUSED_FIELD = 'dm-quota-refused';

/** How long a placeholder outlives its refusal should its removal never reach Redis. */
export const PLACEHOLDER_TTL_MS = 60_000;

/**
 * Runs just before the jobs' adds, on the same connection (in the same transaction for a batch): takes a place for
 * each job in its tenant's pending set, or refuses them all, and indexes them.
 *
 * A refusal leaves a placeholder hash under each job's key, so the BullMQ adds that follow find the ids taken and
 * store nothing (their documented behaviour for an existing job id); RELEASE_PLACEHOLDER_LUA then deletes the
 * placeholders, which otherwise expire. Before refusing, entries of jobs that are gone or finished (their release
 * was lost, say with a dying worker, or the add never reached Redis) are dropped, so a lost release cannot
 * shrink a quota for good; only entries older than the grace count, as a job's add follows its reservation.
 *
 * The settings are part of the script (one per configuration), so each call sends only what changes.
 * KEYS: the tenant's pending set, its expiring set, its index, the global index, then each new job's hash.
 * ARGV: the queue's job key prefix (`<prefix>:<queue>:`), now (ms: the registration time), then for each job its id
 * and its expires_at (ms, 0 for none). Returns 1 when the jobs may be added, 0 when the quota is full, 2 when it is
 * full and a job's add ran before this script (Redis had lost the script and ioredis sent it again after the add):
 * that job exists and must be removed.
 */
export function registerLua(settings: { maxPendingJobs: number; indexTtlMs: number }): string {
  const int = (value: number): string => String(Math.trunc(value));
  return `
local limit, prefix, registeredAt = ${int(settings.maxPendingJobs)}, ARGV[1], ARGV[2]
local graceBefore = tonumber(registeredAt) - ${int(INDEX_GRACE_MS)}
local first, n = 3, #KEYS - 4
${DROP_STALE_SAMPLES_LUA}
if limit > 0 then
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', registeredAt, 'LIMIT', 0, ${int(EXPIRED_RELEASED)})
  if #expired > 0 then
    redis.call('ZREM', KEYS[1], unpack(expired))
    redis.call('ZREM', KEYS[2], unpack(expired))
  end
  local count = redis.call('ZCARD', KEYS[1])
  if count + n > limit then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, ${int(STALE_ENTRIES_CHECKED - 1)}, 'WITHSCORES')
    for i = 1, #oldest, 2 do
      local id, jobKey = oldest[i], prefix .. oldest[i]
      if tonumber(oldest[i + 1]) < graceBefore and
        (redis.call('EXISTS', jobKey) == 0 or redis.call('HEXISTS', jobKey, 'finishedOn') == 1) then
        redis.call('ZREM', KEYS[1], id)
        redis.call('ZREM', KEYS[2], id)
        count = count - 1
      end
    end
  end
  if count + n > limit then
    -- A job whose add ran first (this script was resent after Redis had lost it: NOSCRIPT) is not overwritten.
    local added = 0
    for k = 5, #KEYS do
      if redis.call('EXISTS', KEYS[k]) == 1 then
        added = 2
      else
        redis.call('HSET', KEYS[k], '${REFUSED_FIELD}', '1')
        redis.call('PEXPIRE', KEYS[k], ${int(PLACEHOLDER_TTL_MS)})
      end
    end
    return added
  end
end
-- Before the new entries go in: their jobs do not exist yet. Samples in proportion to the jobs added, so that the
-- stale entries found keep up with the entries written.
-- Where each index's samples start: random hex digits of the first job's id (a random UUID: its first 8 for the
-- tenant's index, its last 8 for the global one, which the parity below does not depend on either). An id that is
-- not hex there gives nil: those samples are picked by ZRANDMEMBER instead.
local function fraction(hex)
  local value = string.match(hex, '^%x+$') and tonumber(hex, 16)
  if value then return value / 4294967296 end
end
local firstId = ARGV[first]
local tenantAt, globalAt = fraction(string.sub(firstId, 1, 8)), fraction(string.sub(firstId, -8))
local samples = math.min(${int(INDEX_SAMPLES)} * n, ${int(MAX_SAMPLES)})
-- A batch checks a share of its samples first, the others where those found stale entries (FIRST_SAMPLES_SHARE).
local firstSamples = math.max(math.ceil(samples / ${int(FIRST_SAMPLES_SHARE)}), ${int(MIN_FIRST_SAMPLES)})
dropStaleSamples(KEYS[3], samples, graceBefore, KEYS[4], tenantAt, firstSamples)
local globalSamples = samples
if n == 1 then
  -- Job ids are random UUIDs: the parity of the first hex digit picks one registration in two.
  globalSamples = 0
  if (tonumber(string.sub(firstId, 1, 1), 16) or 0) % 2 == 0 then globalSamples = ${int(2 * INDEX_SAMPLES)} end
end
if globalSamples > 0 then dropStaleSamples(KEYS[4], globalSamples, graceBefore, nil, globalAt, firstSamples) end
for i = 0, n - 1 do
  local id, expiresAt = ARGV[first + 2 * i], tonumber(ARGV[first + 2 * i + 1])
  if limit > 0 then
    redis.call('ZADD', KEYS[1], registeredAt, id)
    if expiresAt > 0 then redis.call('ZADD', KEYS[2], expiresAt, id) end
  end
  redis.call('ZADD', KEYS[3], registeredAt, id)
  redis.call('ZADD', KEYS[4], registeredAt, id)
end
-- The tenant's index expires once nobody registers into it; the global index is renewed by every registration, and
-- bounded by its samples.
redis.call('PEXPIRE', KEYS[3], ${int(settings.indexTtlMs)})
return 1
`;
}

/** After a refusal's add: removes the placeholder it left. KEYS: the job's hash. */
export const RELEASE_PLACEHOLDER_LUA = `
if redis.call('HEXISTS', KEYS[1], '${REFUSED_FIELD}') == 1 then redis.call('DEL', KEYS[1]) end
return 0
`;
