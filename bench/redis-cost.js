#!/usr/bin/env node
// `node bench/redis-cost.js [--batch] [target ...]` (after npm run build): where Redis's time per register request
// goes. Each target (`service`, `reference`, … as in cpu.js) in turn on one private redis-server: 2 s of the bench's
// register load uncounted, `CONFIG RESETSTAT`, 5 s more, then INFO commandstats divided by the requests: calls and
// µs of each command per request (a script's own time includes the commands it calls, which are also listed on
// their own). With `--batch`, the bench's batch load instead (batch.lua, 8 connections, 100 jobs a request; target
// `addBulk` is reference/bulk.js), per job, with the CPU the target process and redis-server spent per job.
// A measuring aid for bench/README.md, not part of the benchmark; nothing here asserts.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const { cpuMs, parseTarget, runWrk, sleep, startRedis, startTarget, token } = require('./harness');

const BATCH_SIZE = 100;
const WARM_UP_SECONDS = 2;
const SECONDS = 5;

/** The measured load on `target`: how many requests (or, with `batch`, jobs) it stored, and its CPU (ms). */
async function measure(target, redis, bearer, batch, reset) {
  if (target === 'addBulk') return addBulk(redis, reset);
  const { kind, env } = parseTarget(target);
  const side = await startTarget(kind, redis.url, env, { countLines: false });
  const load = batch
    ? { connections: 8, script: 'batch.lua', route: '/api/dm-jobqueue/register/batch' }
    : { connections: 32 };
  await runWrk(side.url, bearer, { ...load, seconds: WARM_UP_SECONDS });
  await reset();
  const cpuBefore = cpuMs(side.child.pid);
  const { requests, non2xx } = await runWrk(side.url, bearer, { ...load, seconds: SECONDS });
  const cpu = cpuMs(side.child.pid) - cpuBefore;
  await side.stop();
  return { count: (requests - non2xx) * (batch ? BATCH_SIZE : 1), cpu };
}

/** reference/bulk.js: the statistics are reset once its warm-up is over, its jobs counted from its own rate. */
function addBulk(redis, reset) {
  const child = spawn(process.execPath, [path.join(__dirname, 'reference', 'bulk.js')], {
    env: {
      PATH: process.env.PATH,
      REDIS_URL: redis.url,
      SECONDS: String(SECONDS),
      WARM_UP_SECONDS: String(WARM_UP_SECONDS),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  return new Promise((resolve, reject) => {
    let resetAt;
    sleep(WARM_UP_SECONDS * 1000 + 200)
      .then(reset)
      .then(() => (resetAt = performance.now()), reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`bulk.js exited with ${code}`));
      const { jobsPerSecond, cpuMs: cpu } = JSON.parse(out);
      const seconds = (performance.now() - resetAt) / 1000;
      resolve({ count: jobsPerSecond * seconds, cpu: (cpu * seconds) / SECONDS });
    });
  });
}

async function main() {
  const args = process.argv.slice(2);
  const batch = args.includes('--batch');
  const named = args.filter((arg) => arg !== '--batch');
  const targets = named.length > 0 ? named : batch ? ['service', 'reference', 'addBulk'] : ['service', 'reference'];
  const unit = batch ? 'job' : 'request';
  const redis = await startRedis();
  const bearer = token();
  try {
    for (const target of targets) {
      let redisCpuBefore = 0;
      const reset = async () => {
        await redis.client.config('RESETSTAT');
        redisCpuBefore = cpuMs(redis.pid);
      };
      const { count, cpu } = await measure(target, redis, bearer, batch, reset);
      const redisCpu = cpuMs(redis.pid) - redisCpuBefore;
      const info = await redis.client.info('commandstats');
      await redis.client.flushall();
      const perUnit = (ms) => ((ms * 1000) / count).toFixed(1);
      process.stdout.write(
        `${target}: ${Math.round(count)} ${unit}s; CPU per ${unit}: process ${perUnit(cpu)} µs, redis-server ${perUnit(redisCpu)} µs\n`,
      );
      const rows = [...info.matchAll(/cmdstat_(\S+):calls=(\d+),usec=(\d+)/g)]
        .map(([, command, calls, usec]) => ({ command, calls: calls / count, us: usec / count }))
        .sort((a, b) => b.us - a.us)
        .slice(0, 12);
      for (const { command, calls, us } of rows) {
        process.stdout.write(`  ${command.padEnd(18)} ${calls.toFixed(3)} calls  ${us.toFixed(2)} µs per ${unit}\n`);
      }
    }
  } finally {
    await redis.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
