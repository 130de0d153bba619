// What the bare references share: the contract of POST /api/dm-jobqueue/register without any framework (the same
// HS256 check, validation, defaults, tenant quota, job index and BullMQ add as the service), so each reference differs
// only in its HTTP layer.
'use strict';
const { createSecretKey, randomUUID } = require('node:crypto');
const { STATUS_CODES } = require('node:http');
const jwt = require('jsonwebtoken');
const { Queue } = require('bullmq');
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
 * size is the quota; the worker removes a job as it starts), its index and the global one (newest first, by
 * registration time), the tenant's index expiring once nobody registers into it. It goes out on the same
 * auto-pipelined connection as the add, in the same write: one round trip. Refused (the quota is full), the job just
 * added is removed again.
 * KEYS: pending, tenant index, global index. ARGV: now (ms), job id, limit (0: none), index TTL (ms).
 */
redis.defineCommand('reserve', {
  numberOfKeys: 3,
  lua: `
local limit = tonumber(ARGV[3])
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
if limit > 0 then redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
`,
});
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

/** The whole register contract after the body is parsed: resolves to the answer to send. */
async function register(authorization, body) {
  const principal = authenticate(authorization);
  if (!principal.subject) return principal;
  const { errors, data } = validate(body);
  if (errors) return failure(400, errors);
  if (redis.status !== 'ready') return failure(503, 'Job queue is unavailable', UNAVAILABLE);
  const jobId = randomUUID();
  const now = Date.now();
  const delay = data.delay_seconds * 1000;
  const owner = principal.subject;
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  try {
    const keys = [tenantKey(owner, 'pending'), tenantKey(owner, 'jobs'), `${prefix}:jobs-index`];
    const stored = Promise.all([
      redis.reserve(...keys, now, jobId, maxPending, indexTtlMs),
      queue.add(
        'message',
        { ...data, run_at: now + delay, owner },
        {
          jobId,
          delay,
          timestamp: now,
          attempts: data.max_retry + 1,
          backoff: { type: 'exponential', delay: 1000 },
          ...retention,
        },
      ),
    ]);
    const result = await Promise.race([stored, timeout]);
    if (!result) return failure(503, 'Job queue is unavailable', UNAVAILABLE);
    if (result[0] === 0) {
      await queue.remove(jobId);
      return failure(429, 'Pending job quota exceeded');
    }
    return answer(201, {
      job_id: jobId,
      status: 'registered',
      delay_seconds: data.delay_seconds,
      max_retry: data.max_retry,
      run_at: new Date(now + delay).toISOString(),
      expires_at: null,
    });
  } catch {
    return failure(503, 'Job queue is unavailable', UNAVAILABLE);
  } finally {
    clearTimeout(timer);
  }
}

// WITH_WORKER=1: the bare worker runs in this process too, as the service's does by default (APP_ROLE=all).
const worker = env.WITH_WORKER === '1' ? require('./worker').startWorker() : undefined;

const ready = () => (redis.status === 'ready' ? answer(200, { status: 'ok' }) : answer(503, { status: 'error' }));
const close = () => Promise.all([worker?.close(), queue.close().then(() => redis.quit())]);

module.exports = { register, ready, failure, close, port: Number(env.PORT ?? 8081) };
