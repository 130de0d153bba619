// The yardstick: what a careful engineer writes by hand with node:http for the same contract as
// POST /api/dm-jobqueue/register — the same HS256 check, the same validation and defaults, the same
// BullMQ add with the same options. No framework, no logging on the request path.
'use strict';
const http = require('node:http');
const { createSecretKey, randomUUID } = require('node:crypto');
const jwt = require('jsonwebtoken');
const { Queue } = require('bullmq');
const Redis = require('ioredis');

const env = process.env;
const port = Number(env.PORT ?? 8081);
const key = createSecretKey(Buffer.from(env.JWT_SECRET, 'utf8'));
const issuer = env.JWT_ISSUER ?? 'go-webdb-template';
const appEnv = env.APP_ENV ?? 'develop';
const revoked = new Set((env.JWT_REVOKED_VERSIONS ?? 'v1').split(',').map((v) => v.trim()));
const limits = { delay: 2_592_000, retry: 100, message: 10_000 };
const prefix = env.QUEUE_PREFIX ?? '{dm-jobqueue}';
const timeoutMs = 500;

const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null, enableOfflineQueue: false, enableAutoPipelining: true });
redis.on('error', () => undefined);
const queue = new Queue('jobs', { connection: redis, prefix });
queue.on('error', () => undefined);
const retention = { removeOnComplete: { age: 86_400, count: 1_000 }, removeOnFail: { age: 604_800, count: 10_000 } };

function send(res, status, body, headers) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
const fail = (res, status, message, headers) =>
  send(res, status, { statusCode: status, message, error: http.STATUS_CODES[status] }, headers);

function authenticate(header) {
  if (header === undefined) return 'Authorization header is required';
  const match = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (!match) return 'Invalid authorization header format';
  try {
    const claims = jwt.verify(match[1], key, { algorithms: ['HS256'], issuer, clockTolerance: 30 });
    if (typeof claims.sub !== 'string' || claims.sub === '') return 'Invalid token';
    if (claims.env !== undefined && claims.env !== appEnv) return 'Invalid token';
    if (claims.version !== undefined && revoked.has(claims.version)) return 'Invalid token';
    if (!Array.isArray(claims.scope) || !claims.scope.includes('write')) return 403;
    return null;
  } catch {
    return 'Invalid token';
  }
}

function validate(body) {
  const errors = [];
  for (const key of Object.keys(body)) {
    if (key !== 'message' && key !== 'delay_seconds' && key !== 'max_retry') errors.push(`property ${key} should not exist`);
  }
  const { message, delay_seconds: delay, max_retry: retry } = body;
  const isInt = (v) => typeof v === 'number' && Number.isInteger(v);
  if (message != null && typeof message !== 'string') errors.push('message must be a string');
  if (delay != null && (!isInt(delay) || delay < 0 || delay > limits.delay)) errors.push('delay_seconds is out of range');
  if (retry != null && (!isInt(retry) || retry < 0 || retry > limits.retry)) errors.push('max_retry is out of range');
  if (typeof message === 'string' && [...message].length > limits.message) errors.push('message is too long');
  if (errors.length) return { errors };
  return { data: { message: message || 'Job executed successfully', delay_seconds: delay ?? 180, max_retry: retry ?? 10 } };
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health/ready') {
    return send(res, redis.status === 'ready' ? 200 : 503, { status: redis.status === 'ready' ? 'ok' : 'error' });
  }
  if (req.method !== 'POST' || req.url !== '/api/dm-jobqueue/register') return fail(res, 404, 'Not Found');
  const auth = authenticate(req.headers.authorization);
  if (auth === 403) return fail(res, 403, 'Insufficient scope');
  if (auth !== null) return fail(res, 401, auth, { 'www-authenticate': 'Bearer realm="dm-jobqueue"' });
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let body;
    try {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      return fail(res, 400, 'Malformed JSON in request body');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return fail(res, 400, 'Request body must be a JSON object');
    const { errors, data } = validate(body);
    if (errors) return fail(res, 400, errors);
    if (redis.status !== 'ready') return fail(res, 503, 'Job queue is unavailable', { 'retry-after': '5' });
    const jobId = randomUUID();
    const delay = data.delay_seconds * 1000;
    const timer = setTimeout(() => fail(res, 503, 'Job queue is unavailable', { 'retry-after': '5' }), timeoutMs);
    queue
      .add('message', data, { jobId, delay, attempts: data.max_retry + 1, backoff: { type: 'exponential', delay: 1000 }, ...retention })
      .then((job) => {
        clearTimeout(timer);
        if (!res.headersSent) {
          send(res, 201, { job_id: jobId, status: 'registered', delay_seconds: data.delay_seconds, max_retry: data.max_retry, run_at: new Date(job.timestamp + delay).toISOString() });
        }
      })
      .catch(() => {
        clearTimeout(timer);
        if (!res.headersSent) fail(res, 503, 'Job queue is unavailable', { 'retry-after': '5' });
      });
  });
});
server.keepAliveTimeout = 72_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`Listening on http://127.0.0.1:${port}\n`));
const stop = () => server.close(() => queue.close().then(() => redis.quit()).finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
