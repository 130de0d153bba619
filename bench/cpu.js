#!/usr/bin/env node
// `node bench/cpu.js [seconds] [target ...]`: where the CPU of a register request goes. Each target
// (`service`, `reference`, `fastify`, `nest`, optionally with environment: `service:LOG_LEVEL=warn,METRICS_ENABLED=false`)
// runs in turn on one private redis-server under the bench's register load (wrk -t2 -c32, 2 s uncounted
// first), ROUNDS times (default 3), and the medians are printed: requests/s, then CPU µs per request of the
// target's main thread, its other threads (V8's garbage collector, libuv), Redis, wrk and this script, from
// /proc. The reference and the floors run the bare worker in their process, as in `npm run bench`.
// A measuring aid for bench/README.md, not part of the benchmark; nothing here asserts.
'use strict';
const { spawn } = require('node:child_process');
const { createSecretKey } = require('node:crypto');
const { mkdtempSync, readFileSync, readdirSync, rmSync } = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const jwt = require('jsonwebtoken');
const Redis = require('ioredis');

const ROOT = path.join(__dirname, '..');
const [secondsArg = '6', ...targetArgs] = process.argv.slice(2);
const SECONDS = Number(secondsArg);
const TARGETS = targetArgs.length > 0 ? targetArgs : ['reference', 'nest', 'service'];
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECRET = 'benchmark-secret-that-is-at-least-32-bytes-long';
const SCRIPTS = { service: 'dist/main.js', reference: 'bench/reference/server.js', fastify: 'bench/reference/fastify.js', nest: 'bench/reference/nest.js' };
const TICK_US = 1_000_000 / 100; // USER_HZ

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const freePort = () => new Promise((resolve) => {
  const server = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});
/** utime + stime in clock ticks: of a process, or of each of its threads. */
const ticksOf = (statFile) => {
  const fields = readFileSync(statFile, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
};
const threadTicks = (pid) => {
  let main = 0;
  let others = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const ticks = ticksOf(`/proc/${pid}/task/${tid}/stat`);
    if (tid === String(pid)) main += ticks;
    else others += ticks;
  }
  return { main, others };
};
/** CPU of reaped children (wrk) in clock ticks: cutime + cstime of this process. */
const childTicks = () => {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return Number(fields[13]) + Number(fields[14]);
};

const bearer = jwt.sign({ type: 'private', scope: ['read', 'write'], version: 'v2', env: 'production' },
  createSecretKey(Buffer.from(SECRET, 'utf8')), { algorithm: 'HS256', issuer: 'go-webdb-template', subject: 'bench', expiresIn: '1h' });

function wrk(port, seconds) {
  return new Promise((resolve) => {
    const child = spawn('wrk', ['-t2', '-c32', `-d${seconds}s`, '--latency', '-s', path.join(__dirname, 'register.lua'),
      `http://127.0.0.1:${port}/api/dm-jobqueue/register`], { env: { ...process.env, BENCH_TOKEN: bearer } });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', () => resolve(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN)));
  });
}

async function measure(target, redis) {
  const [kind, settings = ''] = target.split(':');
  const extra = Object.fromEntries(settings.split(',').filter(Boolean).map((pair) => pair.split('=')));
  const port = await freePort();
  const env = {
    PATH: process.env.PATH, TZ: 'UTC', NO_COLOR: '1', APP_ENV: 'production', HOST: '127.0.0.1', PORT: String(port),
    REDIS_URL: redis.url, JWT_SECRET: SECRET, RATE_LIMIT_PER_MINUTE: '0', ...(kind === 'service' ? {} : { WITH_WORKER: '1' }), ...extra,
  };
  const child = spawn(process.execPath, [path.join(ROOT, SCRIPTS[kind])], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  child.stdout.resume();
  while (!(await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.status === 200, () => false))) {
    if (child.exitCode !== null) throw new Error(`${target} exited with ${child.exitCode}`);
    await sleep(20);
  }
  await wrk(port, 2);
  const before = { node: threadTicks(child.pid), redis: ticksOf(`/proc/${redis.pid}/stat`), wrk: childTicks(), self: process.cpuUsage() };
  const rps = await wrk(port, SECONDS);
  const after = { node: threadTicks(child.pid), redis: ticksOf(`/proc/${redis.pid}/stat`), wrk: childTicks(), self: process.cpuUsage(before.self) };
  const requests = rps * SECONDS;
  const perRequest = (ticks) => (ticks * TICK_US) / requests;
  await new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); });
  await redis.client.flushall();
  return {
    rps,
    main: perRequest(after.node.main - before.node.main),
    threads: perRequest(after.node.others - before.node.others),
    redis: perRequest(after.redis - before.redis),
    wrk: perRequest(after.wrk - before.wrk),
    harness: (after.self.user + after.self.system) / requests,
  };
}

async function main() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-cpu-'));
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const client = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
  client.on('error', () => undefined);
  await client.ping();
  const redis = { url: `redis://127.0.0.1:${port}`, pid: server.pid, client };
  const results = Object.fromEntries(TARGETS.map((target) => [target, []]));
  try {
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const target of TARGETS) results[target].push(await measure(target, redis));
    }
  } finally {
    await client.quit();
    server.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const columns = ['rps', 'main', 'threads', 'redis', 'wrk', 'harness'];
  process.stdout.write(`| target | requests/s | µs CPU per request: main thread | other threads | Redis | wrk | harness |\n| --- |${' ---: |'.repeat(6)}\n`);
  for (const [target, runs] of Object.entries(results)) {
    process.stdout.write(`| ${target} | ${columns.map((key) => median(runs.map((run) => run[key])).toFixed(key === 'rps' ? 0 : 1)).join(' | ')} |\n`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
