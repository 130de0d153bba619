// What the bare references share: the contract of POST /api/dm-jobqueue/register without any framework (the same
// HS256 check, validation, defaults, tenant quota, job index and BullMQ add as the service), so each reference differs
// only in its HTTP layer.
'use strict';
const { createSecretKey, randomUUID } = require('node:crypto');
const { STATUS_CODES } = require('node:http');
const jwt = require('jsonwebtoken');
const { Job, Queue } = require('bullmq');
const Redis = require('ioredis');

const env = process.env;
const key = createSecretKey(Buffer.from(env.JWT_SECRET, 'utf8'));
const issuer = env.JWT_ISSUER ?? 'go-webdb-template';
const appEnv = env.APP_ENV ?? 'develop';
const revoked = new Set((env.JWT_REVOKED_VERSIONS ?? 'v1').split(',').map((v) => v.trim()));
const limits = { delay: 2_592_000, retry: 100, message: 10_000 };
const timeoutMs = 500;
const prefix = env.QUEUE_PREFIX ?? '{dm-jobqueue}';
/** TENANT_MAX_PENDING_JOBS (0: no limit), and how long a tenant's index outlives its latest registration. */
const maxPending = Number(env.TENANT_MAX_PENDING_JOBS ?? 10_000);
const indexTtlMs = (limits.delay + 86_400 * 8) * 1000;
const retention = { removeOnComplete: { age: 86_400, count: 1_000 }, removeOnFail: { age: 604_800, count: 10_000 } };

const redis = new Redis(env.REDIS_URL, {
  maxRetriesPerRequest: null,
  enableOfflineQueue: false,
  enableAutoPipelining: true,
});
redis.on('error', () => undefined);
const queue = new Queue('jobs', { connection: redis, prefix });
queue.on('error', () => undefined);

/**
 * The tenant's quota and the job indexes in one script, as an expert would keep them: the tenant's pending set (its
 * size is the quota; the worker removes a job as it starts) and its expiring set (a job with expires_at leaves the
 * pending set once past it), its index and the global one (by registration time), the tenant's index expiring once
 * nobody registers into it. Both indexes stay bounded: each registration looks at a few consecutive entries from a
 * random rank (4 of the tenant's; 8 of the global index's, one time in two; per job of a batch 4 in each, a sixteenth
 * first, spread over the window, and the rest where those found one gone in 16) and drops those whose job is gone, and
 * a full quota first drops places whose job is gone or finished. It goes out on the same auto-pipelined connection
 * as the add, in the same write: one round trip. Refused (the quota is full), the job just added is removed again.
 * KEYS: pending, expiring, tenant index, global index. ARGV: now (ms), limit (0: none), index TTL (ms), the queue's
 * job key prefix, two random numbers in [0, 1), then each job's id and expires_at (ms, 0: none). Returns 1 or 0.
 */
const RESERVE = `
local now, limit, ttl, jobPrefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local tenantAt, globalAt = tonumber(ARGV[5]), tonumber(ARGV[6])
local ids, expiry = {}, {}
for i = 7, #ARGV, 2 do
  ids[#ids + 1] = ARGV[i]
  expiry[#expiry + 1] = tonumber(ARGV[i + 1])
end
local graceBefore = now - 5000
local function gone(id) return redis.call('EXISTS', jobPrefix .. id) == 0 end
local function sweep(index, count, at, other)
  -- Only entries past the grace may go: they are the older ones, ranks 0 .. old - 1.
  local old = redis.call('ZCARD', index) - redis.call('ZCOUNT', index, graceBefore, '+inf')
  count = math.min(count, old)
  if count <= 0 then return end
  local start = math.floor(at * old)
  local dead, looked = {}, 0
  local function look(id)
    if gone(id) then dead[#dead + 1] = id end
    looked = looked + 1
  end
  -- Entries offset .. offset + n - 1 from the start, wrapping around at the last old one.
  local function range(offset, n)
    local from = (start + offset) % old
    local ids = redis.call('ZRANGE', index, from, math.min(from + n, old) - 1)
    if from + n > old then
      for _, id in ipairs(redis.call('ZRANGE', index, 0, from + n - old - 1)) do ids[#ids + 1] = id end
    end
    return ids
  end
  -- A sixteenth first (at least 8), spread over the window; the rest only where one in 16 of those was gone.
  local first = math.min(count, math.max(math.ceil(count / 16), 8))
  if first == count then
    for _, id in ipairs(range(0, count)) do look(id) end
  else
    -- In blocks of 8 neighbours, one ZRANGE each.
    local blocks = math.ceil(first / 8)
    local spacing = math.floor(count / blocks)
    for k = 0, blocks - 1 do
      for _, id in ipairs(range(k * spacing, math.min(8, count - k * spacing))) do look(id) end
    end
    if #dead > 0 and #dead * 16 >= looked then
      for i, id in ipairs(range(0, count)) do
        if (i - 1) % spacing >= 8 or math.floor((i - 1) / spacing) >= blocks then look(id) end
      end
    end
  end
  if #dead > 0 then
    redis.call('ZREM', index, unpack(dead))
    if other then redis.call('ZREM', other, unpack(dead)) end
  end
end
if limit > 0 then
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
  if #expired > 0 then
    redis.call('ZREM', KEYS[1], unpack(expired))
    redis.call('ZREM', KEYS[2], unpack(expired))
  end
  local taken = redis.call('ZCARD', KEYS[1])
  if taken + #ids > limit then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 99, 'WITHSCORES')
    for i = 1, #oldest, 2 do
      local id = oldest[i]
      if tonumber(oldest[i + 1]) < graceBefore and (gone(id) or redis.call('HEXISTS', jobPrefix .. id, 'finishedOn') == 1) then
        redis.call('ZREM', KEYS[1], id)
        redis.call('ZREM', KEYS[2], id)
        taken = taken - 1
      end
    end
    if taken + #ids > limit then return 0 end
  end
end
sweep(KEYS[3], math.min(4 * #ids, 4000), tenantAt, KEYS[4])
local global = math.min(4 * #ids, 4000)
if #ids == 1 then global = globalAt < 0.5 and 8 or 0 end
if global > 0 then sweep(KEYS[4], global, globalAt * 2 % 1) end
for i, id in ipairs(ids) do
  if limit > 0 then
    redis.call('ZADD', KEYS[1], now, id)
    if expiry[i] > 0 then redis.call('ZADD', KEYS[2], expiry[i], id) end
  end
  redis.call('ZADD', KEYS[3], now, id)
  redis.call('ZADD', KEYS[4], now, id)
end
redis.call('PEXPIRE', KEYS[3], ttl)
return 1
`;
redis.defineCommand('reserve', { numberOfKeys: 4, lua: RESERVE });
const indexKey = `${prefix}:jobs-index`;
const jobPrefix = `${prefix}:jobs:`;
const tenantKey = (sub, what) => `${prefix}:tenant:${Buffer.from(sub).toString('base64url')}:${what}`;

const CHALLENGE = { 'www-authenticate': 'Bearer realm="dm-jobqueue"' };
const UNAVAILABLE = { 'retry-after': '5' };

/** An answer: status, JSON body, extra headers. */
const answer = (status, body, headers) => ({ status, body, headers });
const failure = (status, message, headers) =>
  answer(status, { statusCode: status, message, error: STATUS_CODES[status] }, headers);

/** The token's subject when the header carries a valid token with scope write, else the failure to send. */
function authenticate(header) {
  if (header === undefined) return failure(401, 'Authorization header is required', CHALLENGE);
  const match = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (!match) return failure(401, 'Invalid authorization header format', CHALLENGE);
  let claims;
  try {
    claims = jwt.verify(match[1], key, { algorithms: ['HS256'], issuer, clockTolerance: 30 });
  } catch {
    return failure(401, 'Invalid token', CHALLENGE);
  }
  if (
    typeof claims.sub !== 'string' ||
    claims.sub === '' ||
    (claims.env !== undefined && claims.env !== appEnv) ||
    (claims.version !== undefined && revoked.has(claims.version))
  )
    return failure(401, 'Invalid token', CHALLENGE);
  if (!Array.isArray(claims.scope) || !claims.scope.includes('write')) return failure(403, 'Insufficient scope');
  return { subject: claims.sub };
}

function validate(body) {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return { errors: 'Request body must be a JSON object' };
  const errors = [];
  for (const name of Object.keys(body)) {
    if (name !== 'message' && name !== 'delay_seconds' && name !== 'max_retry')
      errors.push(`property ${name} should not exist`);
  }
  const { message, delay_seconds: delay, max_retry: retry } = body;
  const isInt = (v) => typeof v === 'number' && Number.isInteger(v);
  if (message != null && typeof message !== 'string') errors.push('message must be a string');
  if (delay != null && (!isInt(delay) || delay < 0 || delay > limits.delay))
    errors.push('delay_seconds is out of range');
  if (retry != null && (!isInt(retry) || retry < 0 || retry > limits.retry)) errors.push('max_retry is out of range');
  if (typeof message === 'string' && [...message].length > limits.message) errors.push('message is too long');
  if (errors.length) return { errors };
  return {
    data: { message: message || 'Job executed successfully', delay_seconds: delay ?? 180, max_retry: retry ?? 10 },
  };
}

/** BullMQ's options for a job of `data` registered at `now`. */
const jobOptions = (jobId, data, now) => ({
  jobId,
  delay: data.delay_seconds * 1000,
  timestamp: now,
  attempts: data.max_retry + 1,
  backoff: { type: 'exponential', delay: 1000 },
  ...retention,
});

const registered = (jobId, data, now) => ({
  job_id: jobId,
  status: 'registered',
  delay_seconds: data.delay_seconds,
  max_retry: data.max_retry,
  run_at: new Date(now + data.delay_seconds * 1000).toISOString(),
  expires_at: null,
});

/** Resolves to what `store` resolves to, or to undefined once the timeout has passed. */
async function within(ms, store) {
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(resolve, ms)));
  try {
    return await Promise.race([store, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const reserveArgs = (owner, now, jobIds) => [
  tenantKey(owner, 'pending'),
  tenantKey(owner, 'expiring'),
  tenantKey(owner, 'jobs'),
  indexKey,
  now,
  maxPending,
  indexTtlMs,
  jobPrefix,
  Math.random(),
  Math.random(),
  ...jobIds.flatMap((jobId) => [jobId, 0]),
];

/** The whole register contract after the body is parsed: resolves to the answer to send. */
async function register(authorization, body) {
  const principal = authenticate(authorization);
  if (!principal.subject) return principal;
  const { errors, data } = validate(body);
  if (errors) return failure(400, errors);
  if (redis.status !== 'ready') return failure(503, 'Job queue is unavailable', UNAVAILABLE);
  const jobId = randomUUID();
  const now = Date.now();
  const owner = principal.subject;
  try {
    const stored = Promise.all([
      redis.reserve(...reserveArgs(owner, now, [jobId])),
      queue.add('message', { ...data, run_at: now + data.delay_seconds * 1000, owner }, jobOptions(jobId, data, now)),
    ]);
    const result = await within(timeoutMs, stored);
    if (!result) return failure(503, 'Job queue is unavailable', UNAVAILABLE);
    if (result[0] === 0) {
      await queue.remove(jobId);
      return failure(429, 'Pending job quota exceeded');
    }
    return answer(201, registered(jobId, data, now));
  } catch {
    return failure(503, 'Job queue is unavailable', UNAVAILABLE);
  }
}

/**
 * POST /api/dm-jobqueue/register/batch after the body is parsed: {"jobs": [register bodies]} (1 to 1 000), every
 * item checked, then the reservation and every add in one MULTI, so that Redis stores all or none. BullMQ's
 * Queue.addBulk takes no transaction; its Job.addJob does, as a client.
 */
async function registerBatch(authorization, body) {
  const principal = authenticate(authorization);
  if (!principal.subject) return principal;
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !Array.isArray(body.jobs))
    return failure(400, ['jobs must be an array']);
  const extra = Object.keys(body).filter((name) => name !== 'jobs');
  if (extra.length)
    return failure(
      400,
      extra.map((name) => `property ${name} should not exist`),
    );
  if (body.jobs.length === 0 || body.jobs.length > 1000) return failure(400, ['jobs must contain 1 to 1000 elements']);
  const errors = [];
  const items = body.jobs.map((item, index) => {
    const { errors: itemErrors, data } = validate(item);
    if (itemErrors) errors.push(...[itemErrors].flat().map((message) => `jobs.${index}.${message}`));
    return data;
  });
  if (errors.length) return failure(400, errors);
  if (redis.status !== 'ready') return failure(503, 'Job queue is unavailable', UNAVAILABLE);
  const now = Date.now();
  const owner = principal.subject;
  const jobIds = items.map(() => randomUUID());
  try {
    // BullMQ's view of the connection: its adds need its transaction wrapper.
    const transaction = (await queue.client).multi();
    transaction.reserve(...reserveArgs(owner, now, jobIds));
    items.forEach((data, i) => {
      const job = new Job(
        queue,
        'message',
        { ...data, run_at: now + data.delay_seconds * 1000, owner },
        jobOptions(jobIds[i], data, now),
        jobIds[i],
      );
      void job.addJob(transaction);
    });
    const results = await within(timeoutMs + 2 * items.length, transaction.exec());
    if (!results || results.some(([error]) => error)) {
      await Promise.allSettled(jobIds.map((jobId) => queue.remove(jobId)));
      return failure(503, 'Job queue is unavailable', UNAVAILABLE);
    }
    if (results[0][1] === 0) {
      await Promise.all(jobIds.map((jobId) => queue.remove(jobId)));
      return failure(429, 'Pending job quota exceeded');
    }
    return answer(201, { jobs: items.map((data, i) => registered(jobIds[i], data, now)) });
  } catch {
    return failure(503, 'Job queue is unavailable', UNAVAILABLE);
  }
}

// WITH_WORKER=1: the bare worker runs in this process too, as the service's does by default (APP_ROLE=all).
const worker = env.WITH_WORKER === '1' ? require('./worker').startWorker() : undefined;

const ready = () => (redis.status === 'ready' ? answer(200, { status: 'ok' }) : answer(503, { status: 'error' }));
const close = () => Promise.all([worker?.close(), queue.close().then(() => redis.quit())]);

module.exports = { register, registerBatch, ready, failure, close, port: Number(env.PORT ?? 8081) };
