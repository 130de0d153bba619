#!/usr/bin/env node
// `npm run bench:workers`: jobs/s draining 20 000 immediate jobs with 1 and then 2 worker processes
// (APP_ROLE=worker, the built server) on one private redis-server. Prints a table for docs/OPERATIONS.md.
'use strict';
const { spawn } = require('node:child_process');
const { mkdtempSync, rmSync } = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { Queue } = require('bullmq');
const Redis = require('ioredis');

const JOBS = Number(process.env.JOBS ?? 20_000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const freePort = () =>
  new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

async function drain(redisUrl, processes) {
  const queue = new Queue('jobs', { connection: { url: redisUrl }, prefix: '{dm-jobqueue}' });
  await queue.obliterate({ force: true });
  for (let i = 0; i < JOBS; i += 1000) {
    await queue.addBulk(
      Array.from({ length: Math.min(1000, JOBS - i) }, (_, j) => ({
        name: 'message',
        data: { message: `job ${i + j}`, delay_seconds: 0, max_retry: 0 },
        opts: { removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } },
      })),
    );
  }
  await queue.close();
  let printed = 0;
  let first = 0;
  let last = 0;
  const children = [];
  for (let i = 0; i < processes; i += 1) {
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'dist', 'main.js')], {
      env: {
        PATH: process.env.PATH,
        APP_ENV: 'test',
        APP_ROLE: 'worker',
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        REDIS_URL: redisUrl,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      const count = (chunk.match(/^\[\d{4}-/gm) ?? []).length;
      if (count === 0) return;
      if (printed === 0) first = performance.now();
      printed += count;
      last = performance.now();
    });
    children.push(child);
  }
  while (printed < JOBS) await sleep(20);
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          child.once('exit', resolve);
          child.kill('SIGTERM');
        }),
    ),
  );
  return JOBS / ((last - first) / 1000);
}

async function main() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-workers-'));
  const redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { retryStrategy: () => 50 });
  client.on('error', () => undefined); // until redis-server listens
  await client.ping();
  try {
    const rows = [];
    for (const processes of [1, 2, 1, 2]) rows.push([processes, await drain(url, processes)]);
    const best = (n) => Math.max(...rows.filter(([p]) => p === n).map(([, rate]) => rate));
    process.stdout.write(
      `| worker processes (concurrency 10 each) | jobs/s (best of 2) |\n| ---: | ---: |\n| 1 | ${Math.round(best(1))} |\n| 2 | ${Math.round(best(2))} |\n`,
    );
  } finally {
    await client.quit();
    redis.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
