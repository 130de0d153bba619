// The batch yardstick: BullMQ's addBulk called directly from one process, batches of BATCH_SIZE (100) jobs like the
// service's register/batch requests in the benchmark (batch.lua), CONCURRENCY (8) batches in flight like wrk's
// connections, the same data and options as the service's jobs. Adds for WARM_UP_SECONDS uncounted, then for
// SECONDS, and prints {"jobsPerSecond": n, "cpuMs": n} on standard output.
'use strict';
const { randomUUID } = require('node:crypto');
const { Queue } = require('bullmq');

const env = process.env;
const BATCH_SIZE = Number(env.BATCH_SIZE ?? 100);
const CONCURRENCY = Number(env.CONCURRENCY ?? 8);
const SECONDS = Number(env.SECONDS ?? 10);
const WARM_UP_SECONDS = Number(env.WARM_UP_SECONDS ?? 3);

const queue = new Queue('jobs', { connection: { url: env.REDIS_URL }, prefix: env.QUEUE_PREFIX ?? '{dm-jobqueue}' });
const options = {
  attempts: 4,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 86_400, count: 1_000 },
  removeOnFail: { age: 604_800, count: 10_000 },
};

function batch() {
  const now = Date.now();
  return Array.from({ length: BATCH_SIZE }, () => ({
    name: 'message',
    data: { message: 'benchmark', delay_seconds: 3600, max_retry: 3, run_at: now + 3_600_000, owner: 'bench' },
    opts: { ...options, jobId: randomUUID(), delay: 3_600_000, timestamp: now },
  }));
}

async function addFor(ms) {
  const until = performance.now() + ms;
  let jobs = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        await queue.addBulk(batch());
        jobs += BATCH_SIZE;
      }
    }),
  );
  return jobs;
}

async function main() {
  await queue.waitUntilReady();
  await addFor(WARM_UP_SECONDS * 1000);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const jobs = await addFor(SECONDS * 1000);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  process.stdout.write(`${JSON.stringify({ jobsPerSecond: jobs / seconds, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
  await queue.close();
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
