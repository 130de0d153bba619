// The Lua scripts of recurring schedules (SPEC 6.5): the quota and the indexes kept with a schedule's record, its
// deletion, its reading, and what the worker does when an occurrence starts. BullMQ keeps the job scheduler itself.
import { DROP_STALE_SAMPLES_LUA, INDEX_SAMPLES } from './job-index';

/** How many of a tenant's oldest live schedules a refusal checks for ones that ended or were never created. */
export const STALE_SCHEDULES_CHECKED = 100;

/**
 * Sets `key`'s expiry to `ms` from now if it would end sooner, also on a key that has none yet (one just created by
 * the ZADD before it).
 */
const KEEP_AT_LEAST_LUA = `
local function keepAtLeast(key, ms)
  local ttl = redis.call('PTTL', key)
  if ttl == -1 or (ttl >= 0 and ttl < ms) then redis.call('PEXPIRE', key, ms) end
end
`;

/**
 * Removes a schedule's BullMQ job scheduler and takes its next occurrence out of the list it waits in (delayed,
 * prioritized, wait or paused; one that has started is left to finish), as BullMQ's removeJobScheduler does for the
 * delayed set only. The occurrence's hash expires after `lingerMs`, and its job index entries go. Returns the id of
 * the occurrence taken out, or ''. Needs `repeatKey` and `jobPrefix` in scope.
 */
const RETIRE_SCHEDULER_LUA = `
local function retireScheduler(id, lists, indexes, lingerMs)
  local takenOut = ''
  local nextMillis = redis.call('ZSCORE', repeatKey, id)
  if nextMillis then
    local jobId = 'repeat:' .. id .. ':' .. nextMillis
    if redis.call('ZREM', lists[1], jobId) == 1 or redis.call('ZREM', lists[2], jobId) == 1
      or redis.call('LREM', lists[3], 1, jobId) == 1 or redis.call('LREM', lists[4], 1, jobId) == 1 then
      redis.call('PEXPIRE', jobPrefix .. jobId, lingerMs)
      for _, index in ipairs(indexes) do redis.call('ZREM', index, jobId) end
      takenOut = jobId
    end
  end
  redis.call('ZREM', repeatKey, id)
  redis.call('DEL', repeatKey .. ':' .. id)
  return takenOut
end
`;

/** Whether a schedule record is a deleted one's tombstone (`deleted`) or a creation given up (`abandoned`). */
const WITHDRAWN_LUA = `
local function withdrawn(recordKey)
  return redis.call('HEXISTS', recordKey, 'deleted') == 1 or redis.call('HEXISTS', recordKey, 'abandoned') == 1
end
`;

/**
 * Whether a schedule was taken back: deleted (its record is then a tombstone with `deleted`) or its creation given up
 * (`abandoned`), or its record is gone while its BullMQ scheduler is still there (a creation that never finished:
 * the record's provisional expiry passed). A record gone with its scheduler is an ended schedule whose record
 * expired: not taken back, so a late retry of its last occurrence still runs. Needs `repeatKey` in scope.
 */
const TAKEN_BACK_LUA = `${WITHDRAWN_LUA}
local function takenBack(recordKey, id)
  if redis.call('EXISTS', recordKey) == 0 then return redis.call('ZSCORE', repeatKey, id) ~= false end
  return withdrawn(recordKey)
end
`;

/**
 * What a schedule is now, from its record and BullMQ's job scheduler: `{ record hash, next due ms or false,
 * occurrences created or false, 1 when that next occurrence has not started yet else 0 }`. Needs `repeatKey` (the
 * queue's job schedulers set) and `jobPrefix` (the queue's job key prefix) in scope.
 */
const DESCRIBE_LUA = `${WITHDRAWN_LUA}
local function describe(recordKey, id)
  if withdrawn(recordKey) then return nil end
  local record = redis.call('HGETALL', recordKey)
  if #record == 0 then return nil end
  local nextMillis = redis.call('ZSCORE', repeatKey, id)
  local created, pending = false, 0
  if nextMillis then
    created = redis.call('HGET', repeatKey .. ':' .. id, 'ic') or false
    local nextKey = jobPrefix .. 'repeat:' .. id .. ':' .. nextMillis
    if redis.call('EXISTS', nextKey) == 1 and redis.call('HEXISTS', nextKey, 'processedOn') == 0 then pending = 1 end
  end
  return { record, nextMillis or false, created, pending }
end
`;

/**
 * Creates a schedule's record and takes its place in the owner's live schedules, or refuses (returns 0) when the
 * owner already has `maxSchedules` of them (0: no limit). Before refusing, places of schedules that ended, were
 * deleted, or whose BullMQ scheduler never came to be (older than the grace) are given back, so that a lost update
 * cannot shrink a quota for good. Samples the schedule indexes for entries whose record expired. BullMQ's
 * upsertJobScheduler follows; should it fail, the schedule is deleted again.
 *
 * KEYS: the owner's live schedules, the owner's schedule index, the global schedule index, the new record, the
 * queue's job schedulers set. ARGV: the schedule id, now (ms), the owner, the spec (JSON), grace before (ms), the
 * record key prefix (`<prefix>:schedule:`), the record's provisional expiry (ms). Returns 1 (created), 0 (quota
 * full) or 2 (given up already).
 */
export function createScheduleLua(settings: { maxSchedules: number }): string {
  return `
local limit, id, now, prefix = ${Math.trunc(settings.maxSchedules)}, ARGV[1], ARGV[2], ARGV[6]
local graceBefore = tonumber(ARGV[5])
${DROP_STALE_SAMPLES_LUA}${WITHDRAWN_LUA}
-- Its creation was given up (answered 503) before this script ran: nothing is created.
if redis.call('EXISTS', KEYS[4]) == 1 then return 2 end
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, ${STALE_SCHEDULES_CHECKED - 1}, 'WITHSCORES')
  for i = 1, #oldest, 2 do
    local other = oldest[i]
    local recordKey = prefix .. other
    if redis.call('EXISTS', recordKey) == 0 or redis.call('HEXISTS', recordKey, 'ended_at') == 1 or
      withdrawn(recordKey) or (tonumber(oldest[i + 1]) < graceBefore and not redis.call('ZSCORE', KEYS[5], other)) then
      redis.call('ZREM', KEYS[1], other)
    end
  end
  if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
end
dropStaleSamples(KEYS[2], ${INDEX_SAMPLES}, graceBefore, KEYS[3])
dropStaleSamples(KEYS[3], ${INDEX_SAMPLES}, graceBefore)
redis.call('HSET', KEYS[4], 'owner', ARGV[3], 'created_at', now, 'spec', ARGV[4])
-- Provisional: should the creation never finish (its process died), the record goes, and with it the schedule.
redis.call('PEXPIRE', KEYS[4], ARGV[7])
redis.call('ZADD', KEYS[1], now, id)
redis.call('ZADD', KEYS[2], now, id)
redis.call('ZADD', KEYS[3], now, id)
return 1
`;
}

/**
 * Ends a creation after BullMQ's upsertJobScheduler: puts the first occurrence into the job indexes (so that it is
 * listed before it runs; the owner's index lives at least until retention is over after it is due), or, when the
 * record is gone (a DELETE came in between) or its creation was given up (answered 503), retires the scheduler it
 * would have run. A schedule that stands loses its record's provisional expiry (unless it has ended already). Returns 1 when it stands, else 0.
 *
 * KEYS: the record, the owner's job index, the global job index, the queue's job schedulers set, delayed,
 * prioritized, wait, paused. ARGV: the schedule id, the first occurrence's job id, its registration time (ms), the
 * index expiry (ms from now), the queue's job key prefix, the lingering hash's expiry (ms).
 */
export const CONFIRM_SCHEDULE_LUA = `${KEEP_AT_LEAST_LUA}
local repeatKey, jobPrefix = KEYS[4], ARGV[5]
${RETIRE_SCHEDULER_LUA}${TAKEN_BACK_LUA}
if takenBack(KEYS[1], ARGV[1]) then
  retireScheduler(ARGV[1], { KEYS[5], KEYS[6], KEYS[7], KEYS[8] }, { KEYS[2], KEYS[3] }, ARGV[6])
  return 0
end
-- A first occurrence due at once may have ended the schedule already (limit 1): its record keeps the retention.
if redis.call('HEXISTS', KEYS[1], 'ended_at') == 0 then redis.call('PERSIST', KEYS[1]) end
redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[3], 'NX', ARGV[3], ARGV[2])
keepAtLeast(KEYS[2], tonumber(ARGV[4]))
return 1
`;

/**
 * Gives a creation up (it was answered 503): marks its record, creating a marker if the record is not there yet (the
 * creation's own script then creates nothing), so that no occurrence of it starts from now on, whatever reaches
 * Redis later and even if this process stops before it deletes the rest. Expires after `ttl` ms: by then a missing
 * record stops occurrences just as well. KEYS: the record. ARGV: the owner, the expiry (ms).
 */
export const ABANDON_SCHEDULE_LUA = `
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'abandoned', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * Deletes a schedule of the caller's (any for an admin; also one whose creation was given up): its BullMQ job
 * scheduler, and its next occurrence unless that has started (then it finishes); its record and index entries go
 * with it, the record becoming a tombstone (`owner`, `deleted`) that outlives the retries of its occurrences. After
 * this no occurrence starts: a retry or a stalled retake of an earlier one finds the tombstone (see
 * OCCURRENCE_STARTED_LUA). The occurrence taken out keeps its hash for CANCELLED_JOB_TTL_MS; BullMQ's own removal
 * of it follows.
 *
 * KEYS: the record, the owner's live schedules, the owner's schedule index, the global schedule index, the queue's
 * job schedulers set, delayed, prioritized, wait, paused, the owner's job index, the global job index, the owner's
 * ended schedules.
 * ARGV: the schedule id, the owner the caller may see ("" for an admin: any), the queue's job key prefix, the
 * lingering hash's expiry (ms), JOB_BACKOFF_MS, the stalled-retake margin (ms), the tombstone's longest life (ms).
 * Returns false when there is no such schedule for the caller, else the id of the occurrence taken out or "".
 */
export const DELETE_SCHEDULE_LUA = `
local id, repeatKey, jobPrefix = ARGV[1], KEYS[5], ARGV[3]
${RETIRE_SCHEDULER_LUA}
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner or (ARGV[2] ~= '' and owner ~= ARGV[2]) then return false end
if redis.call('HEXISTS', KEYS[1], 'deleted') == 1 then return false end
local takenOut = retireScheduler(id, { KEYS[6], KEYS[7], KEYS[8], KEYS[9] }, { KEYS[10], KEYS[11] }, ARGV[4])
-- The tombstone outlives the retries of its occurrences: BullMQ's exponential backoff doubles JOB_BACKOFF_MS each
-- time, and a stalled occurrence is taken back within the margin.
local decoded, spec = pcall(cjson.decode, redis.call('HGET', KEYS[1], 'spec') or '')
local maxRetry = decoded and type(spec) == 'table' and tonumber(spec.max_retry) or 0
local keep = math.min(tonumber(ARGV[5]) * 2 ^ math.min(maxRetry, 60) + tonumber(ARGV[6]), tonumber(ARGV[7]))
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'owner', owner, 'deleted', '1')
redis.call('PEXPIRE', KEYS[1], math.floor(keep))
for k = 2, 4 do redis.call('ZREM', KEYS[k], id) end
redis.call('ZREM', KEYS[12], id)
return takenOut
`;

/**
 * One schedule as DESCRIBE_LUA tells it, or false. KEYS: the record, the queue's job schedulers set. ARGV: the
 * schedule id, the queue's job key prefix.
 */
export const READ_SCHEDULE_LUA = `
local repeatKey, jobPrefix = KEYS[2], ARGV[2]
${DESCRIBE_LUA}
return describe(KEYS[1], ARGV[1]) or false
`;

/**
 * One page of a schedule index, newest first, from just after a cursor position (score and id; "" for the start):
 * `{ next score or false, next id or false, { id, describe(id)... }... }`. Entries whose record is gone are skipped
 * and dropped. Stops after `limit` schedules.
 *
 * KEYS: the index, the queue's job schedulers set. ARGV: limit, cursor score, cursor id, the record key prefix,
 * the queue's job key prefix.
 */
export const LIST_SCHEDULES_LUA = `
local limit, cursorScore, cursorId, recordPrefix = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local repeatKey, jobPrefix = KEYS[2], ARGV[5]
${DESCRIBE_LUA}
local from, offset = '+inf', 0
if cursorId ~= '' then from = cursorScore end
local page, found = {}, 0
while true do
  local chunk = redis.call('ZRANGE', KEYS[1], from, '-inf', 'BYSCORE', 'REV', 'LIMIT', offset, 100, 'WITHSCORES')
  if #chunk == 0 then return { false, false, unpack(page) } end
  offset = offset + #chunk / 2
  for i = 1, #chunk, 2 do
    local id, score = chunk[i], chunk[i + 1]
    -- Entries at the cursor's own score come in descending id order: those up to the cursor were on earlier pages.
    if cursorId == '' or score ~= cursorScore or id < cursorId then
      local described = describe(recordPrefix .. id, id)
      if described == nil then
        redis.call('ZREM', KEYS[1], id)
        offset = offset - 1
      elseif found == limit then
        return { page[found][2], page[found][1], unpack(page) }
      else
        found = found + 1
        page[found] = { id, score, described }
      end
    end
  end
end
`;

/**
 * Runs when an occurrence of a schedule starts (BullMQ has just added the next one, if any): indexes it and the next
 * one for the job list, and ends the schedule when there is no next one (its limit is reached, or its cron has no
 * occurrence before end_at) or the next one would be due after end_at (BullMQ's `every` looks at end_at only before
 * adding it: that one is taken out). An ended schedule loses its BullMQ scheduler and its place in the owner's live
 * schedules; its record keeps `ended_at` and `occurrences` and expires after `retention` (at once for 0); past the most
 * ended records an owner keeps, its oldest ended ones are deleted. Idempotent:
 * a stalled occurrence that starts again changes nothing.
 *
 * KEYS: the queue's job schedulers set, the owner's job index, the global job index, the record, the owner's live
 * schedules, the owner's schedule index, the global schedule index, delayed, the owner's ended schedules,
 * prioritized, wait, paused.
 * ARGV: the queue's job key prefix, the schedule id, this occurrence's due time (ms), its job id, its registration
 * time (ms), now (ms), how long an index outlives a job's due time (ms), the ended record's retention (ms), grace
 * before (ms), the most ended records the owner keeps (0: no limit but the retention), the record key prefix.
 * Returns 1 when the schedule ended here, -1 when this occurrence must not start (its schedule was taken back),
 * else 0.
 */
export const OCCURRENCE_STARTED_LUA = `${KEEP_AT_LEAST_LUA}
local prefix, id, now = ARGV[1], ARGV[2], tonumber(ARGV[6])
local afterDue, graceBefore = tonumber(ARGV[7]), tonumber(ARGV[9])
local repeatKey, jobPrefix = KEYS[1], ARGV[1]
${DROP_STALE_SAMPLES_LUA}${RETIRE_SCHEDULER_LUA}${TAKEN_BACK_LUA}
local schedulerKey = KEYS[1] .. ':' .. id
-- The schedule was deleted or its creation given up: this occurrence, a retry or a retake, does not start, and a
-- scheduler left behind goes.
if takenBack(KEYS[4], id) then
  retireScheduler(id, { KEYS[8], KEYS[10], KEYS[11], KEYS[12] }, { KEYS[2], KEYS[3] }, 0)
  return -1
end
dropStaleSamples(KEYS[2], ${INDEX_SAMPLES}, graceBefore, KEYS[3])
dropStaleSamples(KEYS[3], ${INDEX_SAMPLES}, graceBefore)
redis.call('ZADD', KEYS[2], 'NX', ARGV[5], ARGV[4])
redis.call('ZADD', KEYS[3], 'NX', ARGV[5], ARGV[4])
keepAtLeast(KEYS[2], afterDue)
local nextMillis = redis.call('ZSCORE', KEYS[1], id)
if not nextMillis then return 0 end
local endAt = tonumber(redis.call('HGET', schedulerKey, 'endDate') or '0')
-- This occurrence itself due after end_at (the script did not run for the one before): it does not run, nor count.
local ended, takenOut = tonumber(nextMillis) == tonumber(ARGV[3]), 0
if endAt > 0 and tonumber(ARGV[3]) > endAt then takenOut = 1 end
if not ended then
  local nextId = 'repeat:' .. id .. ':' .. nextMillis
  if endAt > 0 and tonumber(nextMillis) > endAt then
    ended = true
    if redis.call('ZREM', KEYS[8], nextId) == 1 then
      redis.call('DEL', prefix .. nextId)
      takenOut = takenOut + 1
    end
  else
    local registeredAt = redis.call('HGET', prefix .. nextId, 'timestamp')
    if registeredAt then
      redis.call('ZADD', KEYS[2], 'NX', registeredAt, nextId)
      redis.call('ZADD', KEYS[3], 'NX', registeredAt, nextId)
      keepAtLeast(KEYS[2], tonumber(nextMillis) - now + afterDue)
    end
  end
end
if not ended then return 0 end
local occurrences = tonumber(redis.call('HGET', schedulerKey, 'ic') or '0') - takenOut
redis.call('ZREM', KEYS[1], id)
redis.call('DEL', schedulerKey)
redis.call('ZREM', KEYS[5], id)
if redis.call('EXISTS', KEYS[4]) == 1 then
  if tonumber(ARGV[8]) > 0 then
    redis.call('HSET', KEYS[4], 'ended_at', now, 'occurrences', occurrences)
    redis.call('PEXPIRE', KEYS[4], ARGV[8])
    redis.call('ZADD', KEYS[9], now, id)
    redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', now - tonumber(ARGV[8]))
    local keep = tonumber(ARGV[10])
    if keep > 0 and redis.call('ZCARD', KEYS[9]) > keep then
      for _, oldest in ipairs(redis.call('ZPOPMIN', KEYS[9], redis.call('ZCARD', KEYS[9]) - keep)) do
        -- ZPOPMIN answers member, score, member, score...: the scores are numbers, the ids are not.
        if not tonumber(oldest) then
          redis.call('DEL', ARGV[11] .. oldest)
          redis.call('ZREM', KEYS[6], oldest)
          redis.call('ZREM', KEYS[7], oldest)
        end
      end
    end
    redis.call('PEXPIRE', KEYS[9], ARGV[8])
  else
    redis.call('DEL', KEYS[4])
    redis.call('ZREM', KEYS[6], id)
    redis.call('ZREM', KEYS[7], id)
  end
end
return 1
`;
