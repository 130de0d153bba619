// The Lua scripts that change a job a worker may take at the same moment: each checks and acts in one atomic step.
import { EXPIRED_REASON } from '../job';
import { EXTEND_EXPIRY_LUA } from '../job-index';

/**
 * How long the hash of a cancelled job outlives its cancellation should BullMQ's own removal (which
 * follows at once) not reach Redis; nothing can run it meanwhile, it is in no list.
 */
export const CANCELLED_JOB_TTL_MS = 60_000;

/** What DELETE or PATCH found: done, or why the job was left alone. */
export type JobChangeOutcome = 'not-found' | 'running' | 'finished' | 'expired';

/**
 * The checks both scripts start with, in the same step as their change, so that no worker can take the job in
 * between: a job of another tenant is "not-found" (its existence must not leak); a locked job (a worker runs it),
 * or an active one without a lock (its worker died and stalled-job recovery will run it again), is "running"; one
 * past its expires_at "expired", also once a worker has dropped it (failed with EXPIRED_REASON, which the job view
 * shows as expired too); any other completed or failed one "finished". `takeOut()` then removes the job from the
 * delayed, prioritized, wait or paused list it waits in, after which no worker can reach it.
 *
 * KEYS: job hash, its lock, delayed, prioritized, wait, paused, completed, failed, active, then the script's own.
 * ARGV: job id, the owner the caller may see ("" for an admin: any), now (ms), then the script's own.
 */
const CHECKS_LUA = `
local jobId, now = ARGV[1], tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 0 then return 'not-found' end
local decoded, data = pcall(cjson.decode, redis.call('HGET', KEYS[1], 'data') or '')
if not decoded or type(data) ~= 'table' then return 'not-found' end
if ARGV[2] ~= '' and data.owner ~= ARGV[2] then return 'not-found' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'running' end
if redis.call('ZSCORE', KEYS[7], jobId) then return 'finished' end
if redis.call('ZSCORE', KEYS[8], jobId) then
  if redis.call('HGET', KEYS[1], 'failedReason') == ${JSON.stringify(EXPIRED_REASON)} then return 'expired' end
  return 'finished'
end
if redis.call('LPOS', KEYS[9], jobId) then return 'running' end
if type(data.expires_at) == 'number' and now >= data.expires_at then return 'expired' end
local function takeOut()
  return redis.call('ZREM', KEYS[3], jobId) == 1 or redis.call('ZREM', KEYS[4], jobId) == 1
    or redis.call('LREM', KEYS[5], 1, jobId) == 1 or redis.call('LREM', KEYS[6], 1, jobId) == 1
end
`;

/**
 * Cancels a job that has not started: once taken out of its list it can never run, and its places in the owner's
 * pending and expiring sets and in the indexes go with it. BullMQ's own removal deletes what is left (job.remove()
 * alone would also delete a job that finished between a state check and the removal, and answer success for it).
 *
 * Own KEYS: the owner's pending set, expiring set, index, the global index. Own ARGV: CANCELLED_JOB_TTL_MS.
 * Returns 'cancelled' or a JobChangeOutcome.
 */
export const CANCEL_JOB_LUA = `${CHECKS_LUA}
if not takeOut() then return 'not-found' end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
for k = 10, 13 do redis.call('ZREM', KEYS[k], jobId) end
return 'cancelled'
`;

/**
 * Moves a job that has not started to a new due time: out of its list, into the delayed set with the score BullMQ
 * gives a delayed job (due time × 4096 plus a counter that keeps jobs due in the same millisecond in order: the
 * encoding of BullMQ's getDelayedScore, which a script of our own cannot include), and the queue's marker set to
 * the earliest due time, as BullMQ does when it adds a delayed job, which wakes a waiting worker. A worker promotes
 * it once due, also when that is now. Its data becomes the caller's (new run_at and delay_seconds), provided it is
 * still what the caller read; the owner's index lives at least `index expiry` more.
 *
 * Own KEYS: the queue's marker, the owner's index. Own ARGV: the new due time (ms), the data as read, the new data,
 * the index expiry (ms from now).
 * Returns 'moved', 'after-expiry' (the new time is not before its expires_at), 'changed' (its data is no longer
 * what was read), or a JobChangeOutcome.
 */
export const MOVE_JOB_LUA = `${CHECKS_LUA}${EXTEND_EXPIRY_LUA}
local due = tonumber(ARGV[4])
if type(data.expires_at) == 'number' and due >= data.expires_at then return 'after-expiry' end
if redis.call('HGET', KEYS[1], 'data') ~= ARGV[5] then return 'changed' end
if not takeOut() then return 'not-found' end
redis.call('HSET', KEYS[1], 'data', ARGV[6], 'delay', math.max(0, due - now))
local minScore, maxScore = due * 0x1000, (due + 1) * 0x1000 - 1
local last = redis.call('ZREVRANGEBYSCORE', KEYS[3], maxScore, minScore, 'WITHSCORES', 'LIMIT', 0, 1)
local score = minScore
if #last > 0 then score = math.min(tonumber(last[2]) + 1, maxScore) end
redis.call('ZADD', KEYS[3], score, jobId)
local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
redis.call('ZADD', KEYS[10], tonumber(first[2]) / 0x1000, '1')
extendExpiry(KEYS[11], tonumber(ARGV[7]))
return 'moved'
`;
