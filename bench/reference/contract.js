// What the bare references share: the contract of POST /api/dm-jobqueue/register without any framework (the same
// HS256 check, validation, defaults and BullMQ add as the service), so each reference differs only in its HTTP layer.
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
const retention = { removeOnComplete: { age: 86_400, count: 1_000 }, removeOnFail: { age: 604_800, count: 10_000 } };

const redis = new Redis(env.REDIS_URL, {
  maxRetriesPerRequest: null,
  enableOfflineQueue: false,
  enableAutoPipelining: true,
});
redis.on('error', () => undefined);
const queue = new Queue('jobs', { connection: redis, prefix: env.QUEUE_PREFIX ?? '{dm-jobqueue}' });
queue.on('error', () => undefined);

const CHALLENGE = { 'www-authenticate': 'Bearer realm="dm-jobqueue"' };
const UNAVAILABLE = { 'retry-after': '5' };

/** An answer: status, JSON body, extra headers. */
const answer = (status, body, headers) => ({ status, body, headers });
const failure = (status, message, headers) =>
  answer(status, { statusCode: status, message, error: STATUS_CODES[status] }, headers);

/** null when the header carries a valid token with scope write, else the failure to send. */
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
  return null;
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
  const refused = authenticate(authorization);
  if (refused) return refused;
  const { errors, data } = validate(body);
  if (errors) return failure(400, errors);
  if (redis.status !== 'ready') return failure(503, 'Job queue is unavailable', UNAVAILABLE);
  const jobId = randomUUID();
  const delay = data.delay_seconds * 1000;
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  try {
    const job = await Promise.race([
      queue.add('message', data, {
        jobId,
        delay,
        attempts: data.max_retry + 1,
        backoff: { type: 'exponential', delay: 1000 },
        ...retention,
      }),
      timeout,
    ]);
    if (!job) return failure(503, 'Job queue is unavailable', UNAVAILABLE);
    return answer(201, {
      job_id: jobId,
      status: 'registered',
      delay_seconds: data.delay_seconds,
      max_retry: data.max_retry,
      run_at: new Date(job.timestamp + delay).toISOString(),
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
