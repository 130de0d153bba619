#!/usr/bin/env node
// `npm run bench [-- --duration 10 --rounds 2 --turn 1 --soak 300]`: the service side by side with the bare
// reference in bench/reference/ on one private redis-server, under load from wrk: taking turns of `--turn` seconds
// for register (rounds × duration seconds of load each), A B B A for the rest. Prints the
// figures and ratios and writes bench/RESULTS.md. A benchmark, never a test: nothing here asserts.
'use strict';
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { Queue } = require('bullmq');
const {
  cpuMs,
  fillQueue,
  jobOptions,
  median,
  parseTarget,
  runWrk: wrk,
  sleep,
  startRedis,
  startReferenceWorker,
  startAll,
  startTarget,
  stopAll,
  takeTurns,
  token,
  WRK_THREADS,
} = require('./harness');

const ROOT = path.join(__dirname, '..');
const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    turn: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    jobs: { type: 'string', default: '20000' },
    'lateness-jobs': { type: 'string', default: '1000' },
    'spread-jobs': { type: 'string', default: '10000' },
    'lateness-only': { type: 'boolean', default: false },
    soak: { type: 'string', default: '0' },
    'no-write': { type: 'boolean', default: false },
    'soak-only': { type: 'boolean', default: false },
    'register-only': { type: 'boolean', default: false },
    'worker-only': { type: 'boolean', default: false },
    'batch-only': { type: 'boolean', default: false },
    note: { type: 'string', multiple: true, default: [] },
  },
});
const DURATION = Number(opts.duration);
const ROUNDS = Number(opts.rounds);
const CONNECTIONS = Number(opts.connections);
const WORKER_JOBS = Number(opts.jobs);
const LATENESS_JOBS = Number(opts['lateness-jobs']);
/** The lateness run of jobs due one after the other: how many, over how long; and the schedules' run. */
const SPREAD_JOBS = Number(opts['spread-jobs']);
const SPREAD_SECONDS = 10;
const SCHEDULES = 50;
const SCHEDULE_SECONDS = 12;
const SOAK_SECONDS = Number(opts.soak);
/** Load before each measured run, the same for every side. */
const WARM_UP_SECONDS = 3;
/** Register: turns of TURN_SECONDS, as many as make ROUNDS × DURATION seconds of load on each target. */
const TURN_SECONDS = Number(opts.turn);
const TURNS = Math.max(1, Math.round((ROUNDS * DURATION) / TURN_SECONDS));

/** Jobs per register/batch request (batch.lua) and per addBulk call (reference/bulk.js), and requests in flight. */
const BATCH_SIZE = 100;
const BATCH_CONNECTIONS = 8;

const FLOORS = { fastify: 'bare Fastify', nest: 'bare NestJS (Fastify adapter)' };
const runWrk = (url, bearer, seconds = DURATION) => wrk(url, bearer, { seconds, connections: CONNECTIONS });
const log = (line) => process.stderr.write(`bench: ${line}\n`);

function ensureWrk() {
  if (spawnSync('wrk', ['--version']).error === undefined) return;
  log('wrk is missing: installing it from Debian packages');
  execFileSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'inherit' });
}

const rssMb = (pid) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
};

const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor((q / 100) * sorted.length))];

/** `key` of each of a target's turns over the same of the reference's turn of that round. */
const turnRatios = (turns, referenceTurns, key) => turns.map((turn, i) => turn[key] / referenceTurns[i][key]);

/** Median, quartiles and range of a list of figures, as a line of the results shows them. */
function spread(values, digits = 2) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => fmt(percentile(sorted, q), digits);
  return `median ${fmt(median(sorted), digits)}, quartiles ${at(25)}–${at(75)}, range ${at(0)}–${at(100)}`;
}

/**
 * Register throughput, p99 and CPU per request, each target's turns (harness takeTurns): every target started at
 * once on the one redis-server, each with its own queue, WARM_UP_SECONDS of load each uncounted, then TURN_SECONDS
 * of load on one target at a time, TURNS times. Turn i of the service and turn i of the reference are next to each
 * other in time, so a machine whose speed drifts within minutes moves both; one long run after the other let it
 * move one and not the other.
 *
 * The service runs its worker in the process that registers (APP_ROLE=all, its default), and BullMQ wakes a
 * waiting worker on every delayed job that becomes the next one due: so the reference and the floors run
 * the bare worker in their process too (WITH_WORKER=1) while registering.
 */
async function benchRegister(redis, kinds, bearer) {
  let sides = [];
  try {
    sides = (await startAll(kinds, redis.url, 'bench')).map((side) => ({ ...side, turns: [] }));
    // Not counted: until the JIT has compiled the hot paths.
    for (const side of sides) await runWrk(side.url, bearer, WARM_UP_SECONDS);
    await takeTurns(sides, TURNS, async (side) => {
      const pid = side.child.pid;
      const before = { target: cpuMs(pid), redis: cpuMs(redis.pid) };
      const result = await runWrk(side.url, bearer, TURN_SECONDS);
      // Every thread of the target process (its main thread, V8's GC and libuv's threads), and Redis.
      side.turns.push({
        ...result,
        cpuMs: cpuMs(pid) - before.target,
        redisCpuMs: cpuMs(redis.pid) - before.redis,
        rss: rssMb(pid),
      });
    });
  } finally {
    // A side that died during the turns (its stop() rejects) fails the run.
    await stopAll(sides);
  }
  await redis.client.flushall();
  return Object.fromEntries(sides.map((side) => [side.target, side.turns]));
}

/** The register figures of one target's turns: medians of requests/s and p99, CPU per request over all of them. */
function registerFigures(turns) {
  const requests = turns.reduce((sum, turn) => sum + turn.requests, 0);
  const total = (key) => turns.reduce((sum, turn) => sum + turn[key], 0);
  return {
    rps: median(turns.map((turn) => turn.rps)),
    p99: median(turns.map((turn) => turn.p99)),
    cpuUs: (total('cpuMs') * 1000) / requests,
    redisCpuUs: (total('redisCpuMs') * 1000) / requests,
    loadedRss: median(turns.map((turn) => turn.rss)),
    non2xx: total('non2xx'),
  };
}

/** Spawn to ready, and RSS a second later, of a fresh process started alone (no other target running). */
async function benchStartup(redis, kind) {
  const target = await startTarget(kind, redis.url, parseTarget(kind).env, { countLines: false });
  await sleep(1_000);
  const idleRss = rssMb(target.child.pid);
  await target.stop();
  return { startupMs: target.startupMs, idleRss };
}

/**
 * Jobs per second stored in batches of BATCH_SIZE: POST /register/batch of the service or of the reference (the same
 * contract, one MULTI) under wrk (BATCH_CONNECTIONS connections, batch.lua), or BullMQ's addBulk called directly from
 * one process with as many batches in flight (reference/bulk.js: no HTTP, token, validation, quota or index; the
 * floor the issue measures against). Each after WARM_UP_SECONDS uncounted.
 */
async function benchBatch(redis, kind, bearer) {
  await redis.client.flushall();
  let result;
  if (kind !== 'addBulk') {
    const target = await startTarget(kind, redis.url, parseTarget(kind).env, { countLines: false });
    const load = { seconds: WARM_UP_SECONDS, connections: BATCH_CONNECTIONS, script: 'batch.lua' };
    const route = '/api/dm-jobqueue/register/batch';
    await wrk(target.url, bearer, { ...load, route });
    const run = await wrk(target.url, bearer, { ...load, seconds: DURATION, route });
    await target.stop();
    // Only the batches answered 2xx stored their jobs.
    result = {
      jobsPerSecond: run.rps * BATCH_SIZE * (1 - run.non2xx / run.requests),
      non2xx: run.non2xx,
      p99: run.p99,
    };
  } else {
    const out = execFileSync(process.execPath, [path.join(__dirname, 'reference', 'bulk.js')], {
      env: {
        PATH: process.env.PATH,
        REDIS_URL: redis.url,
        BATCH_SIZE: String(BATCH_SIZE),
        CONCURRENCY: String(BATCH_CONNECTIONS),
        SECONDS: String(DURATION),
        WARM_UP_SECONDS: String(WARM_UP_SECONDS),
      },
      encoding: 'utf8',
    });
    result = { ...JSON.parse(out), non2xx: 0 };
  }
  await redis.client.flushall();
  return result;
}

async function benchWorker(redis, kind) {
  await redis.client.flushall();
  await fillQueue(redis.url, WORKER_JOBS);
  const started = performance.now();
  let target;
  if (kind === 'service') {
    target = await startTarget('service', redis.url);
  } else {
    target = startReferenceWorker(redis.url);
  }
  while (target.lines.count < WORKER_JOBS) {
    if (performance.now() - started > 120_000)
      throw new Error(`${kind} worker drained only ${target.lines.count} jobs`);
    await sleep(20);
  }
  const seconds = (target.lines.last - target.lines.first) / 1000;
  await target.stop();
  await redis.client.flushall();
  return { jobsPerSecond: (WORKER_JOBS - 1) / seconds };
}

/** How late each job started (ms after it was due), given when each was due: p50, p99, max and how many early. */
function latenessOf(jobs, dueOf) {
  const lateness = jobs.map((job) => job.processedOn - dueOf(job)).sort((a, b) => a - b);
  const early = jobs.filter((job) => job.processedOn < dueOf(job));
  // What an early start looked like, to tell a clock step from a job taken before its time.
  for (const job of early.slice(0, 5))
    log(
      `early: ${job.id} due ${dueOf(job)} (timestamp ${job.timestamp} + delay ${job.opts.delay}), processedOn ` +
        `${job.processedOn}, attempts ${job.attemptsMade}, stalled ${job.stalledCounter ?? 0}`,
    );
  return {
    jobs: lateness.length,
    min: lateness[0],
    p50: percentile(lateness, 50),
    p99: percentile(lateness, 99),
    max: lateness[lateness.length - 1],
    early: early.length,
  };
}

const post = (url, bearer, route, body) =>
  fetch(`${url}${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }).then(async (response) => {
    if (response.status !== 201) throw new Error(`${route}: ${response.status} ${await response.text()}`);
  });

/**
 * Lateness of the worker, three ways (`mode`):
 * - `together`: LATENESS_JOBS jobs due within the same second or so (registered with `delay_seconds: 2`);
 * - `spread`: SPREAD_JOBS jobs due one after the other over SPREAD_SECONDS, starting 3 s after they were registered
 *   (the service's through register/batch with `run_at`, the reference's by addBulk with the same due times);
 * - `schedules`: SCHEDULES schedules of one occurrence a second for SCHEDULE_SECONDS (the service's through
 *   POST /schedules with SCHEDULE_MIN_INTERVAL_SECONDS=1, the reference's BullMQ job schedulers), each occurrence's
 *   due time read from its id (`repeat:<scheduler>:<due ms>`).
 * Read back from Redis: processedOn minus the due time.
 */
async function benchLateness(redis, kind, bearer, mode = 'together') {
  await redis.client.flushall();
  const expected = { together: LATENESS_JOBS, spread: SPREAD_JOBS, schedules: 0 }[mode];
  const env = { JOB_KEEP_COMPLETED_COUNT: String(Math.max(LATENESS_JOBS, SPREAD_JOBS) * 2) };
  if (mode === 'schedules') Object.assign(env, { SCHEDULE_MIN_INTERVAL_SECONDS: '1' });
  const target = kind === 'service' ? await startTarget('service', redis.url, env) : startReferenceWorker(redis.url);
  if (kind !== 'service') await sleep(500);
  const queue = new Queue('jobs', { connection: { url: redis.url }, prefix: '{dm-jobqueue}' });
  const firstDue = Date.now() + 3_000;
  const dueAt = (i) => Math.round(firstDue + (i * SPREAD_SECONDS * 1000) / SPREAD_JOBS);
  if (mode === 'together' && kind === 'service') {
    for (let i = 0; i < LATENESS_JOBS; i += 50) {
      const n = Math.min(50, LATENESS_JOBS - i);
      const register = () =>
        post(target.url, bearer, '/api/dm-jobqueue/register', { message: 'due together', delay_seconds: 2 });
      await Promise.all(Array.from({ length: n }, register));
    }
  } else if (mode === 'together') {
    await fillQueue(redis.url, LATENESS_JOBS, 2_000);
  } else if (mode === 'spread' && kind === 'service') {
    for (let i = 0; i < SPREAD_JOBS; i += BATCH_SIZE) {
      const jobs = Array.from({ length: Math.min(BATCH_SIZE, SPREAD_JOBS - i) }, (_, j) => ({
        message: 'due one after the other',
        run_at: new Date(dueAt(i + j)).toISOString(),
      }));
      await post(target.url, bearer, '/api/dm-jobqueue/register/batch', { jobs });
    }
  } else if (mode === 'spread') {
    for (let i = 0; i < SPREAD_JOBS; i += 1000) {
      const now = Date.now();
      const jobs = Array.from({ length: Math.min(1000, SPREAD_JOBS - i) }, (_, j) => ({
        name: 'message',
        data: { message: 'due one after the other', max_retry: 3 },
        // Kept once completed, every one of them, to be read back (the service's run sets JOB_KEEP_COMPLETED_COUNT).
        opts: {
          ...jobOptions(i + j),
          removeOnComplete: { count: SPREAD_JOBS * 2 },
          timestamp: now,
          delay: dueAt(i + j) - now,
        },
      }));
      await queue.addBulk(jobs);
    }
  } else {
    for (let i = 0; i < SCHEDULES; i += 1) {
      if (kind === 'service')
        await post(target.url, bearer, '/api/dm-jobqueue/schedules', { message: `schedule ${i}`, every_seconds: 1 });
      else
        await queue.upsertJobScheduler(
          `s${i}`,
          { every: 1000 },
          { name: 'message', data: { message: `schedule ${i}` } },
        );
    }
  }
  if (Date.now() > firstDue && mode === 'spread')
    log(`lateness ${mode}, ${kind}: registering outlasted the 3 s head start`);
  const started = performance.now();
  if (mode === 'schedules') await sleep(SCHEDULE_SECONDS * 1000);
  else while (target.lines.count < expected && performance.now() - started < 30_000) await sleep(20);
  await target.stop();
  const jobs = await queue.getJobs(['completed'], 0, -1);
  await queue.close();
  if (mode === 'schedules')
    return latenessOf(
      jobs.filter((job) => job.id.startsWith('repeat:')),
      (job) => Number(job.id.split(':').pop()),
    );
  return latenessOf(jobs, (job) => job.timestamp + job.opts.delay);
}

/** The three lateness runs, service then reference each. */
async function benchAllLateness(redis, bearer) {
  const figures = {};
  for (const [name, mode] of [
    ['lateness', 'together'],
    ['latenessSpread', 'spread'],
    ['latenessSchedules', 'schedules'],
  ]) {
    figures[name] = {};
    for (const kind of ['service', 'reference']) {
      log(`lateness, ${mode}, ${kind}`);
      figures[name][kind] = await benchLateness(redis, kind, bearer, mode);
    }
  }
  return figures;
}

const late = (l) =>
  `${l.early > 0 ? `min ${fmt(l.min)} ms, ` : ''}p50 ${fmt(l.p50)} ms, p99 ${fmt(l.p99)} ms, max ${fmt(l.max)} ms, early ${l.early} (of ${l.jobs})`;

/**
 * SOAK_SECONDS of mixed load on the service, retention at its defaults: single registrations of immediate jobs
 * (wrk, 4 connections), a batch of 100 immediate jobs every 200 ms, a page of the job list (100, alternating no
 * filter and `state=completed`) every 100 ms, and 20 schedules of one occurrence a second
 * (SCHEDULE_MIN_INTERVAL_SECONDS=1), one of them deleted and another created every 10 s. Every 10 s: the service's
 * RSS, Redis's used memory, its keys, and the global job index's entries.
 */
async function soak(redis, bearer) {
  const target = await startTarget('service', redis.url, { SCHEDULE_MIN_INTERVAL_SECONDS: '1' }, { countLines: false });
  const samples = [];
  const lua = path.join(os.tmpdir(), 'bench-soak.lua');
  writeFileSync(
    lua,
    readFileSync(path.join(__dirname, 'register.lua'), 'utf8').replace('"delay_seconds":3600', '"delay_seconds":0'),
  );
  const wrk = spawn(
    'wrk',
    [`-t${WRK_THREADS}`, '-c4', `-d${SOAK_SECONDS}s`, '-s', lua, `${target.url}/api/dm-jobqueue/register`],
    { env: { ...process.env, BENCH_TOKEN: bearer }, stdio: 'ignore' },
  );
  const headers = { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' };
  /** Sends one request of the load `what`, counting its answers by status. */
  const call = (what, method, route, body) =>
    fetch(`${target.url}${route}`, { method, headers, body: body && JSON.stringify(body) }).then(async (response) => {
      const text = await response.text();
      const counted = `${what} ${response.status}`;
      answers[counted] = (answers[counted] ?? 0) + 1;
      return response.status < 300 && text ? JSON.parse(text) : undefined;
    });
  const answers = {};
  const until = Date.now() + SOAK_SECONDS * 1000;
  const every = async (ms, work) => {
    for (let next = Date.now(); Date.now() < until; next += ms) {
      await work().catch(() => undefined);
      await sleep(Math.max(0, next + ms - Date.now()));
    }
  };
  const batch = { jobs: Array.from({ length: 100 }, () => ({ message: 'soak', delay_seconds: 0 })) };
  const schedules = [];
  const newSchedule = async () => {
    const created = await call('schedule created', 'POST', '/api/dm-jobqueue/schedules', {
      message: 'soak schedule',
      every_seconds: 1,
    });
    if (created) schedules.push(created.schedule_id);
  };
  for (let i = 0; i < 20; i += 1) await newSchedule();
  let listed = 0;
  const loads = [
    every(200, () => call('batch', 'POST', '/api/dm-jobqueue/register/batch', batch)),
    every(100, () =>
      call('list', 'GET', `/api/dm-jobqueue/jobs?limit=100${(listed += 1) % 2 ? '&state=completed' : ''}`),
    ),
    every(10_000, async () => {
      const gone = schedules.shift();
      if (gone) await call('schedule deleted', 'DELETE', `/api/dm-jobqueue/schedules/${gone}`);
      await newSchedule();
    }),
  ];
  const started = Date.now();
  while (wrk.exitCode === null) {
    const [info, keys, indexed, metrics] = await Promise.all([
      redis.client.info('memory'),
      redis.client.dbsize(),
      redis.client.zcard('{dm-jobqueue}:jobs'),
      fetch(`${target.url}/metrics`).then((response) => response.text()),
    ]);
    // V8's own account (prom-client's default metrics): a heap that grows with RSS is the program's; one that
    // does not is the allocator's or V8's reservations.
    const gauge = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]) / 1048576;
    samples.push({
      second: Math.round((Date.now() - started) / 1000),
      rss: rssMb(target.child.pid),
      redisMb: Number(/used_memory:(\d+)/.exec(info)[1]) / 1048576,
      keys,
      indexed,
      heapMb: gauge('nodejs_heap_size_used_bytes'),
      externalMb: gauge('nodejs_external_memory_bytes'),
    });
    await sleep(Math.min(10_000, SOAK_SECONDS * 100));
  }
  await Promise.all(loads);
  await target.stop();
  samples.answers = answers;
  return samples;
}

function renderSoak(samples) {
  return [
    '',
    `### Soak: ${SOAK_SECONDS} s of mixed load, retention at its defaults`,
    '',
    'Single registrations of immediate jobs (wrk, 4 connections), a batch of 100 immediate jobs every 200 ms, a page',
    'of the job list (100 jobs, with and without `state=completed`) every 100 ms, and 20 schedules of one occurrence',
    'a second, one deleted and another created every 10 s.',
    '',
    '| second | service RSS (MiB) | V8 heap used (MiB) | external (MiB) | Redis used memory (MiB) | Redis keys | global index entries |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...samples.map(
      (s) =>
        `| ${s.second} | ${fmt(s.rss, 1)} | ${fmt(s.heapMb, 1)} | ${fmt(s.externalMb, 1)} | ${fmt(s.redisMb, 1)} | ${fmt(s.keys)} | ${fmt(s.indexed)} |`,
    ),
    '',
    `Answers of the batch, list and schedule loads (load and status): ${Object.entries(samples.answers ?? {})
      .map(([what, n]) => `${what}: ${fmt(n)}`)
      .join(', ')}.`,
    '',
  ].join('\n');
}

function versions() {
  const pkg = (name) => require(path.join(ROOT, 'node_modules', name, 'package.json')).version;
  const redisVersion = /v=([\d.]+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1];
  const wrkVersion = /wrk (\S+)/.exec(spawnSync('wrk', ['--version'], { encoding: 'utf8' }).stdout)?.[1];
  return {
    node: process.version,
    redis: redisVersion,
    wrk: wrkVersion,
    '@nestjs/core': pkg('@nestjs/core'),
    fastify: pkg('fastify'),
    bullmq: pkg('bullmq'),
    ioredis: pkg('ioredis'),
  };
}

const fmt = (n, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';

async function main() {
  if (!existsSync(path.join(ROOT, 'dist', 'main.js')))
    throw new Error('run `npm run build` first (npm run bench does)');
  ensureWrk();
  const redis = await startRedis();
  const bearer = token();
  if (opts['soak-only']) {
    try {
      log(`soak, ${SOAK_SECONDS} s`);
      const samples = await soak(redis, bearer);
      const text = renderSoak(samples);
      process.stdout.write(text);
      if (!opts['no-write'])
        writeFileSync(
          path.join(__dirname, 'SOAK.md'),
          `# Soak\n\nProduced by \`npm run bench -- --soak-only --soak ${SOAK_SECONDS}\` on ${new Date().toISOString().slice(0, 10)}.\n${text}`,
        );
    } finally {
      await redis.stop();
    }
    return;
  }
  /** Each target's register turns. */
  let register = { service: [], reference: [], fastify: [], nest: [] };
  const startup = { service: [], reference: [] };
  const worker = { service: [], reference: [] };
  const batch = { service: [], reference: [], addBulk: [] };
  try {
    if (opts['batch-only']) {
      await takeTurns(Object.keys(batch), ROUNDS, async (kind, round) => {
        log(`round ${round + 1}: batch, ${kind}`);
        batch[kind].push(await benchBatch(redis, kind, bearer));
      });
      const perSecond = (kind) => batch[kind].map((r) => r.jobsPerSecond);
      process.stdout.write(
        `batch jobs/s: ${Object.keys(batch)
          .map(
            (kind) =>
              `${kind} ${fmt(median(perSecond(kind)))} (${perSecond(kind)
                .map((v) => fmt(v))
                .join(', ')})`,
          )
          .join(
            ', ',
          )}; service ${fmt(median(perSecond('service')) / median(perSecond('reference')), 2)} of the reference, ` +
          `${fmt(median(perSecond('service')) / median(perSecond('addBulk')), 2)} of addBulk\n`,
      );
      return;
    }
    if (opts['lateness-only']) {
      const figures = await benchAllLateness(redis, bearer);
      for (const [name, pair] of Object.entries(figures))
        for (const [kind, l] of Object.entries(pair)) process.stdout.write(`${name} ${kind}: ${late(l)}\n`);
      return;
    }
    if (!opts['worker-only']) {
      log(`register: ${Object.keys(register).join(', ')}, ${TURNS} turns of ${TURN_SECONDS} s each`);
      register = await benchRegister(redis, Object.keys(register), bearer);
    }
    if (opts['register-only']) {
      const reference = registerFigures(register.reference);
      for (const [kind, turns] of Object.entries(register)) {
        const f = registerFigures(turns);
        process.stdout.write(
          `${kind.padEnd(9)} ${fmt(f.rps).padStart(7)} req/s, p99 ${fmt(f.p99, 2)} ms, ` +
            `${fmt(f.rps / reference.rps, 2)} of the reference (turn by turn: ${spread(turnRatios(turns, register.reference, 'rps'))}), ` +
            `CPU ${fmt(f.cpuUs, 1)} µs/request, Redis ${fmt(f.redisCpuUs, 1)} µs/request\n`,
        );
      }
      return;
    }
    // One side after the other, the order reversed every other round (as the register turns): a side that always
    // went first would always meet the machine at the same moment of each round.
    await takeTurns(['service', 'reference'], ROUNDS, async (kind, round) => {
      log(`round ${round + 1}: start-up, ${kind}`);
      startup[kind].push(await benchStartup(redis, kind));
    });
    await takeTurns(['service', 'reference'], ROUNDS, async (kind, round) => {
      log(`round ${round + 1}: worker, ${kind}`);
      worker[kind].push(await benchWorker(redis, kind));
    });
    if (opts['worker-only']) {
      const jobsPerSecond = (kind) => worker[kind].map((r) => r.jobsPerSecond);
      process.stdout.write(
        `worker jobs/s: service ${fmt(median(jobsPerSecond('service')))} (${jobsPerSecond('service')
          .map((v) => fmt(v))
          .join(', ')}), ` +
          `reference ${fmt(median(jobsPerSecond('reference')))} (${jobsPerSecond('reference')
            .map((v) => fmt(v))
            .join(', ')}), ` +
          `${fmt(median(jobsPerSecond('service')) / median(jobsPerSecond('reference')), 2)} of the reference\n`,
      );
      return;
    }
    await takeTurns(Object.keys(batch), ROUNDS, async (kind, round) => {
      log(`round ${round + 1}: batch, ${kind}`);
      batch[kind].push(await benchBatch(redis, kind, bearer));
    });
    const { lateness, latenessSpread, latenessSchedules } = await benchAllLateness(redis, bearer);
    const soakSamples = SOAK_SECONDS > 0 ? (log(`soak, ${SOAK_SECONDS} s`), await soak(redis, bearer)) : [];

    const m = (list, key) => median(list.map((r) => r[key]));
    const registered = Object.fromEntries(
      Object.entries(register).map(([kind, turns]) => [kind, registerFigures(turns)]),
    );
    const pair = (key) => ({ service: registered.service[key], reference: registered.reference[key] });
    const figures = {
      registerRps: pair('rps'),
      registerP99: pair('p99'),
      registerCpuUs: pair('cpuUs'),
      registerRedisCpuUs: pair('redisCpuUs'),
      batchJobsPerSecond: {
        service: m(batch.service, 'jobsPerSecond'),
        reference: m(batch.reference, 'jobsPerSecond'),
        addBulk: m(batch.addBulk, 'jobsPerSecond'),
      },
      workerJobsPerSecond: {
        service: m(worker.service, 'jobsPerSecond'),
        reference: m(worker.reference, 'jobsPerSecond'),
      },
      startupMs: { service: m(startup.service, 'startupMs'), reference: m(startup.reference, 'startupMs') },
      idleRssMb: { service: m(startup.service, 'idleRss'), reference: m(startup.reference, 'idleRss') },
      loadedRssMb: pair('loadedRss'),
      lateness,
      latenessSpread,
      latenessSchedules,
      non2xx: {
        ...Object.fromEntries(Object.entries(registered).map(([kind, f]) => [kind, f.non2xx])),
        'service batches': batch.service.reduce((sum, r) => sum + r.non2xx, 0),
        'reference batches': batch.reference.reduce((sum, r) => sum + r.non2xx, 0),
      },
      floors: Object.fromEntries(
        Object.keys(FLOORS).map((kind) => [kind, { rps: registered[kind].rps, p99: registered[kind].p99 }]),
      ),
    };
    const report = render(figures, register, startup, worker, soakSamples, batch);
    process.stdout.write(report.table);
    if (!opts['no-write']) writeFileSync(path.join(__dirname, 'RESULTS.md'), report.markdown);
  } finally {
    await redis.stop();
  }
}

function previousFigures() {
  const file = path.join(__dirname, 'RESULTS.md');
  if (!existsSync(file)) return undefined;
  const match = /<!-- figures (.*) -->/.exec(readFileSync(file, 'utf8'));
  return match ? JSON.parse(match[1]) : undefined;
}

function render(f, register, startup, worker, soakSamples, batch) {
  const ratio = (a, b) => fmt(a / b, 2);
  /** A row of the table: the service's figure, the yardstick's (`other` of the pair), their ratio and the target. */
  const row = (label, pair, digits, target, other = 'reference') => [
    label,
    fmt(pair.service, digits),
    fmt(pair[other], digits),
    ratio(pair.service, pair[other]),
    target,
  ];
  const rows = [
    row('register throughput (requests/s)', f.registerRps, 0, '≥ 0.80'),
    row('register p99 latency (ms)', f.registerP99, 2, '≤ 1.50'),
    row('register CPU per request (µs, every thread of the process)', f.registerCpuUs, 1, '≤ 1.25'),
    row('Redis CPU per register request (µs)', f.registerRedisCpuUs, 1, ''),
    row(
      `batch throughput (jobs/s, ${BATCH_SIZE} a request; reference: its register/batch)`,
      f.batchJobsPerSecond,
      0,
      '',
    ),
    row(
      `batch throughput (jobs/s, ${BATCH_SIZE} a request; reference: BullMQ addBulk from one process)`,
      f.batchJobsPerSecond,
      0,
      '≥ 0.70',
      'addBulk',
    ),
    row(`worker throughput (jobs/s, ${fmt(WORKER_JOBS)} immediate jobs)`, f.workerJobsPerSecond, 0, '≥ 0.95'),
    row('start-up to ready (ms)', f.startupMs, 0, ''),
    row('RSS idle (MiB)', f.idleRssMb, 1, ''),
    row('RSS under load (MiB)', f.loadedRssMb, 1, ''),
  ];
  const table =
    [
      '| measure | service | reference | ratio | target |',
      '| --- | ---: | ---: | ---: | --- |',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
      `| lateness, ${fmt(LATENESS_JOBS)} jobs due together | ${late(f.lateness.service)} | ${late(f.lateness.reference)} | | p99 ≤ 20 ms, none early |`,
      `| lateness, ${fmt(SPREAD_JOBS)} jobs due over ${SPREAD_SECONDS} s | ${late(f.latenessSpread.service)} | ${late(f.latenessSpread.reference)} | | p99 ≤ 20 ms, none early |`,
      `| lateness, occurrences of ${SCHEDULES} schedules every second for ${SCHEDULE_SECONDS} s (reference: BullMQ job schedulers) | ${late(f.latenessSchedules.service)} | ${late(f.latenessSchedules.reference)} | | p99 ≤ 20 ms, none early |`,
      '',
      "Floors: the reference's own code (`bench/reference/contract.js`) served by the frameworks under the service, with none of",
      "the service's code: what each framework costs before any of it. Like the reference, they verify the token on every request.",
      '',
      '| register, same contract | requests/s | p99 (ms) | throughput / reference | p99 / reference | service / floor |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      ...Object.entries(FLOORS).map(([kind, label]) => {
        const floor = f.floors[kind];
        return `| ${label} | ${fmt(floor.rps)} | ${fmt(floor.p99, 2)} | ${ratio(floor.rps, f.registerRps.reference)} | ${ratio(floor.p99, f.registerP99.reference)} | ${ratio(f.registerRps.service, floor.rps)} |`;
      }),
    ].join('\n') + '\n';
  const before = previousFigures();
  const change = (label, now, then, digits = 0) =>
    then === undefined ? null : `- ${label}: ${fmt(then, digits)} → ${fmt(now, digits)}`;
  const changes = before
    ? [
        change('service register throughput (requests/s)', f.registerRps.service, before.registerRps?.service),
        change('service register p99 (ms)', f.registerP99.service, before.registerP99?.service, 2),
        change(
          'service worker throughput (jobs/s)',
          f.workerJobsPerSecond.service,
          before.workerJobsPerSecond?.service,
        ),
        change('service lateness p99 (ms)', f.lateness.service.p99, before.lateness?.service?.p99),
        change('service RSS under load (MiB)', f.loadedRssMb.service, before.loadedRssMb?.service, 1),
      ].filter(Boolean)
    : ['- first recorded result'];
  changes.push(...opts.note.map((line) => `- ${line}`));
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const runs = (list, key, digits = 0) => list.map((r) => fmt(r[key], digits)).join(', ');
  const soakTable = soakSamples.length ? renderSoak(soakSamples) : '';
  const v = versions();
  const shownArgs = process.argv
    .slice(2)
    .filter((arg, i, all) => arg !== '--note' && all[i - 1] !== '--note' && !arg.startsWith('--note='));
  const markdown = `# Benchmark results

Produced by \`npm run bench${shownArgs.length ? ` -- ${shownArgs.join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 10)}.
The service (\`node dist/main.js\`) and the bare reference (\`bench/reference/\`: \`node:http\`, the same HS256 check,
validation, defaults, tenant quota, job index and BullMQ \`add\`; a bare BullMQ worker) against one private
\`redis-server\`. Register: the service, the reference and the two floors started at once (each its own queue) and
took turns under \`wrk -t${WRK_THREADS} -c${CONNECTIONS} -d${TURN_SECONDS}s\` posting a job with a one-hour delay, ${TURNS} turns each,
the order reversed every other round, so that the machine's drift slows them alike; its figures are medians of the
turns (CPU per request: over all of them). The rest ran one target at a time, the order reversed every other round (A B B A), medians of ${ROUNDS} rounds
(batches: \`-c${BATCH_CONNECTIONS} -d${DURATION}s\`, ${BATCH_SIZE} jobs a request, against the reference's \`register/batch\` and BullMQ
\`addBulk\` with as many in flight; start-up and idle RSS: fresh processes started alone). Ratios are service / reference.

- Machine: ${os.cpus().length} × ${cpu}, ${fmt(os.totalmem() / 2 ** 30, 0)} GiB, ${os.type()} ${os.release()}
- Versions: ${Object.entries(v)
    .map(([k, val]) => `${k} ${val}`)
    .join(', ')}

${table}
Register, ${TURNS} turns of ${TURN_SECONDS} s each: requests/s service ${spread(
    register.service.map((t) => t.rps),
    0,
  )}; reference ${spread(
    register.reference.map((t) => t.rps),
    0,
  )}; bare Fastify ${spread(
    register.fastify.map((t) => t.rps),
    0,
  )}; bare NestJS ${spread(
    register.nest.map((t) => t.rps),
    0,
  )}.
Service / reference, each turn against the reference's of the same round: throughput ${spread(turnRatios(register.service, register.reference, 'rps'))}; p99 ${spread(turnRatios(register.service, register.reference, 'p99'))}.
Fresh starts, alone: spawn to ready (ms) service ${runs(startup.service, 'startupMs')}, reference ${runs(startup.reference, 'startupMs')}; idle RSS (MiB) service ${runs(startup.service, 'idleRss', 1)}, reference ${runs(startup.reference, 'idleRss', 1)}.
batch jobs/s service ${runs(batch.service, 'jobsPerSecond')}, reference ${runs(batch.reference, 'jobsPerSecond')}, addBulk ${runs(batch.addBulk, 'jobsPerSecond')};
worker jobs/s service ${runs(worker.service, 'jobsPerSecond')}, reference ${runs(worker.reference, 'jobsPerSecond')}.
Responses other than 2xx during the register runs: ${Object.entries(f.non2xx)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ')}.
${soakTable}

## What changed since the last result

${changes.join('\n')}

<!-- figures ${JSON.stringify(f)} -->
`;
  return { table, markdown };
}

main().catch((error) => {
  process.stderr.write(`bench: ${error.stack ?? error}\n`);
  process.exit(1);
});
