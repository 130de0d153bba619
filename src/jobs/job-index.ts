// The job index (SPEC 6.4): which Redis keys list jobs in registration order, how they stay bounded, and the
// Lua script that reads a page of them.
/** `<prefix>:jobs`, every tenant's job ids in registration order: what an admin lists without `owner`. */
export function globalIndexKey(queuePrefix: string): string {
  return `${queuePrefix}:jobs`;
}

/**
 * Entries of the tenant's index each registration checks per job it adds, picked at random: an entry whose job is
 * gone (removed by retention, cancelled) is dropped, from the global index too (every job is in both). Every job
 * leaves at most one such entry behind, and each job added removes on average this many times the share of them, so
 * stale entries older than the grace stay at about 1/INDEX_SAMPLES of an index (a quarter): an index holds about
 * 4/3 of its jobs that Redis still keeps (which retention and the pending quota bound), plus the entries of the last
 * INDEX_GRACE_MS. The global index gets as many samples of its own (a single registration: twice as many, one in
 * two), for the entries of tenants that no longer register. A batch checks a sixteenth of its samples first, and the
 * others only where those found stale ones (FIRST_SAMPLES_SHARE).
 */
export const INDEX_SAMPLES = 4;

/** The most entries one registration checks in one index (a batch of 1 000 checks 4 000). */
export const MAX_SAMPLES = 4_000;

/**
 * What a registration checks first in each index: one in FIRST_SAMPLES_SHARE of its samples (a batch of n jobs: n/4
 * of its INDEX_SAMPLES × n), at least MIN_FIRST_SAMPLES. Where at least one in STALE_SHARE_TO_GO_ON of them was stale
 * it checks the others too, so an index with many stale entries gets every check, and one with few (its jobs still
 * due, or still kept) a sixteenth of them. A single registration checks all its samples at once (4, or 8 in the
 * global index). The stale share settles at about a quarter: 0.24 to 0.29 on average in a model of the rule (`node
 * bench/index-samples.js`: batches of 1 to 1 000, retention removing jobs oldest first or at random), against 0.22
 * to 0.26 when every batch checks all its samples.
 */
export const FIRST_SAMPLES_SHARE = 16;

/** See FIRST_SAMPLES_SHARE: the fewest entries a registration checks first (a batch of up to 2 jobs checks all). */
export const MIN_FIRST_SAMPLES = 8;

/** See FIRST_SAMPLES_SHARE: the first checks go in blocks of this many neighbours (one ZRANGE each), spread evenly. */
export const FIRST_BLOCK = 8;

/** See FIRST_SAMPLES_SHARE: the share of stale entries among the first ones (1 in 16) that makes a batch check on. */
export const STALE_SHARE_TO_GO_ON = 16;

/**
 * How old an entry must be before its job's absence makes it stale: an entry is written just before its job's add
 * (in the same write on the same connection, or the same transaction), so a job that does not exist yet must not
 * lose its entry in the instant between the two. Redis runs them microseconds apart; this is a wide margin.
 */
export const INDEX_GRACE_MS = 5_000;

/** Index entries one list request examines at most; with a state filter a page may hold fewer jobs. */
export const LIST_SCAN_BUDGET = 1_000;

/**
 * How long a tenant's index must still live once one of its jobs is due: the longer retention and a day. Every
 * registration renews the index's expiry to JOB_MAX_DELAY_SECONDS plus this (the latest a new job can be due), and a
 * move (PATCH) or a retry's backoff that takes a job past it extends it to this after the new due time, so no job
 * outlives its index entry. An index nobody registers into disappears with its jobs. (The global index is renewed
 * by every registration of every tenant; its samples bound it.)
 */
export function indexTtlAfterDueMs(config: {
  get(key: 'JOB_KEEP_COMPLETED_SECONDS' | 'JOB_KEEP_FAILED_SECONDS'): number;
}): number {
  return (Math.max(config.get('JOB_KEEP_COMPLETED_SECONDS'), config.get('JOB_KEEP_FAILED_SECONDS')) + 86_400) * 1_000;
}

/**
 * Sets `KEYS[k]`'s expiry to `ms` from now if it would end sooner (a key without expiry, or none, is left alone).
 */
export const EXTEND_EXPIRY_LUA = `
local function extendExpiry(key, ms)
  local ttl = redis.call('PTTL', key)
  if ttl >= 0 and ttl < ms then redis.call('PEXPIRE', key, ms) end
end
`;

/**
 * Removes entries of jobs that are gone from an index (and from `alsoKey`, when given), for up to `samples` entries
 * of it picked at random; only entries older than `graceBefore` (ms) count as stale. Needs `prefix` (the queue's job
 * key prefix) in scope.
 *
 * With `first` (fewer than `samples`), it checks about `first` entries spread over the window (blocks of FIRST_BLOCK
 * neighbours), and the others of it only when at least one in STALE_SHARE_TO_GO_ON of those was stale: an index with
 * few stale entries costs `first` checks, one that has many the same as without `first`. Spread, the first ones
 * stand for the whole window: stale entries lie in runs (the jobs retention removed together), and the head of a
 * window alone would stop a window whose run starts further on.
 *
 * With `at` (a number in [0, 1) the caller drew at random), the entries are the ones that follow rank
 * `at` × (entries past the grace), wrapping around at the last of them: the entries of the grace are the newest, at
 * the top ranks (one ZCOUNT finds where they start), so every entry past it has the same chance, samples ÷ their
 * number, as with ZRANDMEMBER, and none is spent on an entry that may not go yet. Reading neighbours by rank costs
 * a fraction of what picking each at random does, and needs no scores (the register path's share of Redis's time,
 * bench/README.md). Without it, ZRANDMEMBER. The entries found stale go in one ZREM per key.
 */
export const DROP_STALE_SAMPLES_LUA = `
local function dropStaleSamples(indexKey, samples, graceBefore, alsoKey, at, first)
  if samples <= 0 then return end
  local stale, checked = {}, 0
  local function check(id)
    if redis.call('EXISTS', prefix .. id) == 0 then stale[#stale + 1] = id end
    checked = checked + 1
  end
  local function goOn() return #stale > 0 and #stale * ${STALE_SHARE_TO_GO_ON} >= checked end
  if at then
    local past = redis.call('ZCARD', indexKey) - redis.call('ZCOUNT', indexKey, graceBefore, '+inf')
    if past <= 0 then return end
    samples = math.min(samples, past)
    first = math.min(first or samples, samples)
    local from = math.floor(at * past)
    -- Entries offset .. offset + count - 1 of the window (samples from rank from, wrapping around at the last of
    -- those past the grace).
    local function range(offset, count)
      local start = (from + offset) % past
      local ids = redis.call('ZRANGE', indexKey, start, math.min(start + count, past) - 1)
      if start + count > past then
        for _, id in ipairs(redis.call('ZRANGE', indexKey, 0, start + count - past - 1)) do ids[#ids + 1] = id end
      end
      return ids
    end
    if first == samples then
      for _, id in ipairs(range(0, samples)) do check(id) end
    else
      -- First blocks of FIRST_BLOCK neighbours spread evenly over the window, the others where they found stale ones.
      local block = ${FIRST_BLOCK}
      local blocks = math.ceil(first / block)
      local spacing = math.floor(samples / blocks)
      for k = 0, blocks - 1 do
        for _, id in ipairs(range(k * spacing, math.min(block, samples - k * spacing))) do check(id) end
      end
      if goOn() then
        for i, id in ipairs(range(0, samples)) do
          local offset = i - 1
          if offset % spacing >= block or math.floor(offset / spacing) >= blocks then check(id) end
        end
      end
    end
  else
    -- Drawn at random; those in their grace are left.
    local function draw(count)
      local drawn = redis.call('ZRANDMEMBER', indexKey, count, 'WITHSCORES')
      for i = 1, #drawn, 2 do
        if tonumber(drawn[i + 1]) < graceBefore then check(drawn[i]) end
      end
    end
    first = math.min(first or samples, samples)
    draw(first)
    if first < samples and goOn() then draw(samples - first) end
  end
  if #stale > 0 then
    redis.call('ZREM', indexKey, unpack(stale))
    if alsoKey then redis.call('ZREM', alsoKey, unpack(stale)) end
  end
end
`;

/**
 * One page of an index, newest first, from just after a cursor position (score and id; "" for the start), with the
 * job's state and hash for each job that passes the filter. Entries of jobs that are gone are skipped (and dropped
 * once past the grace). Stops after `limit` jobs or `budget` entries.
 *
 * KEYS: the index, completed, failed, delayed, active. ARGV: limit, cursor score, cursor id, state filter ("" for
 * any), budget, now (ms), the queue's job key prefix, EXPIRED_REASON, grace before (ms).
 * Returns { next score or false, next id or false, { id, queue state, { hash fields and values } }... }.
 */
export const LIST_JOBS_LUA = `
local limit, budget, now = tonumber(ARGV[1]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cursorScore, cursorId, filter, prefix = ARGV[2], ARGV[3], ARGV[4], ARGV[7]
local graceBefore = tonumber(ARGV[9])
local function queueState(id)
  if redis.call('ZSCORE', KEYS[2], id) then return 'completed' end
  if redis.call('ZSCORE', KEYS[3], id) then return 'failed' end
  if redis.call('ZSCORE', KEYS[4], id) then return 'delayed' end
  if redis.call('LPOS', KEYS[5], id) then return 'active' end
  return 'waiting'
end
local function pastExpiry(jobKey)
  local data = redis.call('HGET', jobKey, 'data')
  if not data or not string.find(data, '"expires_at"', 1, true) then return false end
  local ok, decoded = pcall(cjson.decode, data)
  return ok and type(decoded) == 'table' and type(decoded.expires_at) == 'number' and now >= decoded.expires_at
end
local function passes(jobKey, state)
  if filter == '' then return true end
  if state == 'failed' then
    local expired = redis.call('HGET', jobKey, 'failedReason') == ARGV[8]
    if filter == 'expired' then return expired end
    return filter == 'failed' and not expired
  end
  if state == 'delayed' or state == 'waiting' then
    local expired = pastExpiry(jobKey)
    if filter == 'expired' then return expired end
    return filter == state and not expired
  end
  return filter == state
end
-- The index's entries after the cursor, newest first, one at a time (nil after the last).
local from, offset, chunk, position = '+inf', 0, {}, 1
if cursorId ~= '' then from = cursorScore end
local function nextEntry()
  while true do
    if position > #chunk then
      chunk = redis.call('ZRANGE', KEYS[1], from, '-inf', 'BYSCORE', 'REV', 'LIMIT', offset, 100, 'WITHSCORES')
      offset, position = offset + #chunk / 2, 1
      if #chunk == 0 then return nil end
    end
    local id, score = chunk[position], chunk[position + 1]
    position = position + 2
    -- Entries at the cursor's own score come in descending id order: those up to the cursor were on earlier pages.
    if cursorId == '' or score ~= cursorScore or id < cursorId then return id, score end
  end
end
-- The entry of a job that is gone: skipped, and dropped once past the grace (the next chunk starts one earlier).
local function dropIfStale(id, score)
  if tonumber(score) < graceBefore then
    redis.call('ZREM', KEYS[1], id)
    offset = offset - 1
  end
end
local jobs, found, scanned = {}, 0, 0
local lastId, lastScore
while found < limit and scanned < budget do
  local id, score = nextEntry()
  if id == nil then return { false, false, unpack(jobs) } end
  scanned, lastId, lastScore = scanned + 1, id, score
  local jobKey = prefix .. id
  local hash = redis.call('HGETALL', jobKey)
  if #hash == 0 then
    dropIfStale(id, score)
  else
    local state = queueState(id)
    if passes(jobKey, state) then
      found = found + 1
      jobs[found] = { id, state, hash }
    end
  end
end
-- Nothing after the last entry examined but entries of jobs that are gone (within the budget): this was the last
-- page. A cursor stays where the loop stopped.
while true do
  local id, score = nextEntry()
  if id == nil then return { false, false, unpack(jobs) } end
  if scanned >= budget or redis.call('EXISTS', prefix .. id) == 1 then return { lastScore, lastId, unpack(jobs) } end
  scanned = scanned + 1
  dropIfStale(id, score)
end
`;
