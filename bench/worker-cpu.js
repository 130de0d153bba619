#!/usr/bin/env node
// `node bench/worker-cpu.js [rounds] [target ...]` (after npm run build; default 4 rounds, `service reference`):
// the CPU each worker spends per job, and its drain rate, the targets taking turns (the order reversed every other
// round). A round starts the target, waits until it idles, fills the queue with JOBS immediate jobs (addBulk from
// this process) and waits for the last job line: CPU per job is the process's CPU over that time (every thread)
// divided by JOBS, which a drifting machine moves less than jobs/s. Also prints the Redis commands per job of each
// target's last round (`INFO commandstats`), so that a difference in the work asked of Redis shows. Targets:
// `reference` (the bare BullMQ worker), a service as cpu.js names it (`service:APP_ROLE=worker`, …), or a floor (`nest`,
// `fastify`), which drains with the same bare worker in its process (parseTarget gives it WITH_WORKER=1).
// A measuring aid for bench/README.md, not part of the benchmark; nothing here asserts.
'use strict';
const {
  cpuMs,
  fillQueue,
  median,
  parseTarget,
  sleep,
  startRedis,
  startReferenceWorker,
  startTarget,
  takeTurns,
} = require('./harness');

const [roundsArg = '4', ...targetArgs] = process.argv.slice(2);
const ROUNDS = Number(roundsArg);
const TARGETS = targetArgs.length > 0 ? targetArgs : ['service', 'reference'];
const JOBS = 20_000;
/** Long enough for a started worker to have finished starting and be waiting for jobs. */
const IDLE_MS = 1_500;

async function round(redis, target) {
  await redis.client.flushall();
  const { kind, env } = parseTarget(target);
  const side = kind === 'reference' ? startReferenceWorker(redis.url) : await startTarget(kind, redis.url, env);
  try {
    await sleep(IDLE_MS);
    const before = cpuMs(side.child.pid);
    await redis.client.config('RESETSTAT');
    await fillQueue(redis.url, JOBS);
    while (side.lines.count < JOBS) {
      if (side.child.exitCode !== null) throw new Error(`${target} exited after ${side.lines.count} jobs`);
      await sleep(20);
    }
    const cpuUs = ((cpuMs(side.child.pid) - before) * 1_000) / JOBS;
    const calls = {};
    for (const [, name, count] of (await redis.client.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+)/g))
      calls[name] = Number(count) / JOBS;
    return { cpuUs, jobsPerSecond: (JOBS - 1) / ((side.lines.last - side.lines.first) / 1_000), calls };
  } finally {
    await side.stop();
  }
}

async function main() {
  const redis = await startRedis();
  const results = Object.fromEntries(TARGETS.map((target) => [target, []]));
  try {
    await takeTurns(TARGETS, ROUNDS, async (target) => results[target].push(await round(redis, target)));
  } finally {
    await redis.stop();
  }
  const fmt = (value, digits = 0) => value.toFixed(digits);
  const yardstick = TARGETS.includes('reference') ? 'reference' : TARGETS[0];
  const base = median(results[yardstick].map((r) => r.cpuUs));
  for (const [target, rounds] of Object.entries(results)) {
    const cpu = rounds.map((r) => r.cpuUs);
    process.stdout.write(
      `${target.padEnd(28)} CPU ${fmt(median(cpu), 1)} µs/job (${cpu.map((v) => fmt(v, 1)).join(', ')}), ` +
        `${fmt(median(cpu) / base, 2)} of ${yardstick}'s; ` +
        `${fmt(median(rounds.map((r) => r.jobsPerSecond)))} jobs/s\n`,
    );
  }
  // The queue was filled by this process too: those commands are the same for every target.
  for (const [target, rounds] of Object.entries(results)) {
    const calls = Object.entries(rounds.at(-1).calls)
      .filter(([, perJob]) => perJob >= 0.01)
      .map(([name, perJob]) => `${name} ${fmt(perJob, 2)}`);
    process.stdout.write(`${target} Redis calls per job: ${calls.join(', ')}\n`);
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
