// What the bench's scripts share: the private redis-server, the targets, the token, wrk, and how a profile's frames are placed.
'use strict';
const { spawn } = require('node:child_process');
const { createSecretKey } = require('node:crypto');
const { mkdtempSync, rmSync } = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const jwt = require('jsonwebtoken');
const { Queue } = require('bullmq');
const Redis = require('ioredis');

const ROOT = path.join(__dirname, '..');

const SECRET = 'benchmark-secret-that-is-at-least-32-bytes-long';

/** The yardstick, then two floors: the same contract on bare Fastify, and in a bare NestJS controller. */
const REFERENCE_SCRIPTS = { reference: 'server.js', fastify: 'fastify.js', nest: 'nest.js' };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-redis-'));
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
      '--dir',
      dir,
    ],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
  client.on('error', () => undefined);
  await client.ping(); // queued until redis-server listens
  return {
    url,
    client,
    pid: child.pid,
    port,
    // Not QUIT first: a reply that never comes would leave the process exiting without its redis-server stopped.
    stop: async () => {
      client.disconnect();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts one target process; resolves once it answers GET /health/ready with 200. Its standard output is
 * searched for job lines only when `countLines`; otherwise it is read and dropped, as a log collector would
 * take it, so that the harness's own line splitting is not charged to the service's access log. `nodeOptions`
 * go to node before the script (`--cpu-prof`, …).
 */
async function startTarget(kind, redisUrl, extraEnv = {}, { countLines = true, nodeOptions = [] } = {}) {
  const port = await freePort();
  const script = isService(kind)
    ? path.join(kind === 'service' ? ROOT : path.resolve(kind.slice('service@'.length)), 'dist', 'main.js')
    : path.join(__dirname, 'reference', REFERENCE_SCRIPTS[kind]);
  const env = {
    PATH: process.env.PATH,
    TZ: process.env.TZ ?? 'UTC',
    NO_COLOR: '1',
    APP_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    REDIS_URL: redisUrl,
    JWT_SECRET: SECRET,
    RATE_LIMIT_PER_MINUTE: '0',
    // One token registers every job of a run, far more than the default quota: the quota's script still runs on
    // every registration, but the run measures a tenant under its quota, not a stream of 429s.
    TENANT_MAX_PENDING_JOBS: '1000000000',
    ...extraEnv,
  };
  const started = performance.now();
  const child = spawn(process.execPath, [...nodeOptions, script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = { count: 0, first: 0, last: 0, text: '' };
  if (countLines) child.stdout.setEncoding('utf8').on('data', (chunk) => countJobLines(lines, chunk));
  else child.stdout.resume();
  child.stderr.resume();
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`${kind} exited with ${child.exitCode}`);
    await sleep(5);
  }
  const startupMs = performance.now() - started;
  return {
    kind,
    port,
    child,
    lines,
    startupMs,
    url: `http://127.0.0.1:${port}`,
    // A target that died during the run fails the benchmark (its figures would be wrk's connection errors).
    stop: () =>
      new Promise((resolve, reject) => {
        if (child.exitCode !== null || child.signalCode !== null)
          return reject(new Error(`${kind} exited during the run (${child.exitCode ?? child.signalCode})`));
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

/** `service` is this checkout's build; `service@<dir>` another checkout's (built), to compare builds side by side. */
const isService = (kind) => kind === 'service' || kind.startsWith('service@');

/**
 * A target as the command lines of cpu.js, profile.js and alloc.js name it: `service` (or `service@<dir>`),
 * `reference`, `fastify` or `nest`, optionally with environment (`service:LOG_LEVEL=warn,METRICS_ENABLED=false`).
 * Under register load the reference and the floors run the bare worker in their process (WITH_WORKER=1), as the
 * service runs its own.
 */
function parseTarget(target) {
  const [kind, settings = ''] = target.split(':');
  const settingsEnv = Object.fromEntries(
    settings
      .split(',')
      .filter(Boolean)
      // At the first '=' only: a value may hold one (`NODE_OPTIONS=--max-semi-space-size=32`).
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  );
  return { kind, env: { ...(isService(kind) ? {} : { WITH_WORKER: '1' }), ...settingsEnv } };
}

const JOB_LINE = /^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] /;
function countJobLines(lines, chunk) {
  const text = lines.text + chunk;
  const parts = text.split('\n');
  lines.text = parts.pop();
  for (const line of parts) {
    if (!JOB_LINE.test(line)) continue;
    const now = performance.now();
    if (lines.count === 0) lines.first = now;
    lines.count += 1;
    lines.last = now;
  }
}

/** Options of the jobs the bench adds straight to the queue (no HTTP): max_retry 3, exponential backoff, retention. */
const jobOptions = (i) => ({
  jobId: `bench-${i}`,
  attempts: 4,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 86_400, count: 1_000 },
  removeOnFail: { age: 604_800, count: 10_000 },
});

/** `count` jobs added to the service's queue with addBulk, in batches of 1 000, each due after `delay` ms. */
async function fillQueue(redisUrl, count, delay = 0) {
  const queue = new Queue('jobs', { connection: { url: redisUrl }, prefix: '{dm-jobqueue}' });
  for (let i = 0; i < count; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 1000); j += 1) {
      batch.push({
        name: 'message',
        data: { message: `job ${j}`, delay_seconds: delay / 1000, max_retry: 3 },
        opts: { ...jobOptions(j), delay },
      });
    }
    await queue.addBulk(batch);
  }
  await queue.close();
}

/** The bare BullMQ worker (reference/worker.js), its job lines counted. */
function startReferenceWorker(redisUrl) {
  const child = spawn(process.execPath, [path.join(__dirname, 'reference', 'worker.js')], {
    env: { PATH: process.env.PATH, TZ: 'UTC', REDIS_URL: redisUrl },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const lines = { count: 0, first: 0, last: 0, text: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk) => countJobLines(lines, chunk));
  return {
    child,
    lines,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Every target (as parseTarget names it) started at once on one redis-server, each with its own queue
 * (`{<prefix>-<index>}`): otherwise a job added by one target could wake another target's waiting worker. Each
 * side is startTarget's handle with its `target` name; those already started are stopped if one fails to start.
 */
async function startAll(targets, redisUrl, prefix) {
  const sides = [];
  try {
    for (const [index, target] of targets.entries()) {
      const { kind, env } = parseTarget(target);
      const queue = { QUEUE_PREFIX: `{${prefix}-${index}}` };
      sides.push({ target, ...(await startTarget(kind, redisUrl, { ...queue, ...env }, { countLines: false })) });
    }
  } catch (error) {
    await Promise.allSettled(sides.map((side) => side.stop()));
    throw error;
  }
  return sides;
}

/** Stops every side, even when one died during the run; then fails with the reason of the first that did. */
async function stopAll(sides) {
  const died = (await Promise.allSettled(sides.map((side) => side.stop()))).find((o) => o.status === 'rejected');
  if (died) throw died.reason;
}

/**
 * One turn of `turn(side)` for every side, `rounds` times, the order reversed every other round: with every target
 * already started, a machine whose speed drifts within minutes (a shared VM) slows every side alike, rather than the
 * ones that happened to run at a bad moment; and the turns of one round are next to each other in time.
 */
async function takeTurns(sides, rounds, turn) {
  for (let round = 0; round < rounds; round += 1) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) await turn(side, round);
  }
}

/**
 * wrk's threads: one, so that the load generator takes one core at most and leaves the targets (and Redis) the other
 * (SPEC 8: with two, on this 2-core machine, the run measured mostly the machine being shared with wrk).
 */
const WRK_THREADS = 1;

/**
 * `wrk -t1 --latency` posting `script` (register.lua by default) to `route` for `seconds` over `connections`
 * connections; its figures.
 */
function runWrk(
  url,
  token,
  { seconds, connections, script = 'register.lua', route = '/api/dm-jobqueue/register', threads = WRK_THREADS },
) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'wrk',
      [
        `-t${threads}`,
        `-c${connections}`,
        `-d${seconds}s`,
        '--latency',
        '-s',
        path.join(__dirname, script),
        `${url}${route}`,
      ],
      { env: { ...process.env, BENCH_TOKEN: token } },
    );
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('error', reject);
    child.on('exit', () => resolve(parseWrk(out)));
  });
}

function toMs(value, unit) {
  return Number(value) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? 1);
}

function parseWrk(out) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p = (q) => {
    const m = new RegExp(`\\s${q}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const errors = /Socket errors: (.*)/.exec(out)?.[1] ?? 'none';
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  return { rps, p50: p(50), p99: p(99), non2xx, errors, requests };
}

/** CPU time (ms) a process has used so far, all its threads, from /proc/<pid>/stat (utime + stime). */
function cpuMs(pid) {
  const stat = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command: state is field 3, utime 14 and stime 15 (1-based), in clock ticks (100 a second on Linux).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function token() {
  const key = createSecretKey(Buffer.from(SECRET, 'utf8'));
  return jwt.sign({ type: 'private', scope: ['read', 'write'], version: 'v2', env: 'production' }, key, {
    algorithm: 'HS256',
    issuer: 'go-webdb-template',
    subject: 'bench',
    expiresIn: '1h',
  });
}

/** A profiled frame's file: inside its npm package, one of node's modules, a file of the service or bench, or V8's (''). */
function fileOf(url) {
  const inPackage = /node_modules\/(.*)$/.exec(url);
  if (inPackage) return inPackage[1];
  if (url.startsWith('node:')) return url;
  return /\/((?:dist|bench)\/.*)$/.exec(url)?.[1] ?? '';
}

/** What a file belongs to: its npm package (scoped ones keep their scope), node's module family, or itself. */
function placeOf(file) {
  if (file.startsWith('node:')) return file.split('/').slice(0, 2).join('/');
  if (/^(dist|bench)\//.test(file)) return file;
  return file
    .split('/')
    .slice(0, file.startsWith('@') ? 2 : 1)
    .join('/');
}

module.exports = {
  fileOf,
  placeOf,
  sleep,
  startRedis,
  startTarget,
  startAll,
  stopAll,
  fillQueue,
  jobOptions,
  startReferenceWorker,
  parseTarget,
  countJobLines,
  runWrk,
  takeTurns,
  median,
  token,
  cpuMs,
  WRK_THREADS,
  SECRET,
};
