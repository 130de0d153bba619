#!/usr/bin/env node
// `node bench/wait-cost.js`: what acknowledging only replicated writes would cost (docs/OPERATIONS.md, Redis Sentinel).
// A private primary and one replica on loopback; one auto-pipelined connection, as the service's producer, with 32
// writers each doing a write like a registration's (a hash of about the size of a job and a sorted-set entry) in a
// loop for 5 s: without WAIT, then each followed by `WAIT 1 500` on the same connection (WAIT counts the writes of the
// connection it is sent on, and blocks it while it waits). Prints writes/s and p99 latency of each.
// A measuring aid, not part of the benchmark; nothing here asserts.
'use strict';
const { spawn } = require('node:child_process');
const { randomUUID } = require('node:crypto');
const { mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Redis = require('ioredis');
const { sleep } = require('./harness');

const WRITERS = 32;
const SECONDS = 5;

async function server(port, args = []) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-wait-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args],
    { stdio: 'ignore' },
  );
  const client = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 50 });
  client.on('error', () => undefined);
  await client.ping();
  return {
    client,
    stop: async () => {
      client.disconnect();
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function run(client, withWait) {
  const data = JSON.stringify({ message: 'x'.repeat(100), delay_seconds: 3600, max_retry: 3, owner: 'bench' });
  const latencies = [];
  const until = performance.now() + SECONDS * 1000;
  let writes = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (performance.now() < until) {
        const id = randomUUID();
        const started = performance.now();
        const done = [client.hset(`{b}:job:${id}`, 'data', data), client.zadd('{b}:index', Date.now(), id)];
        if (withWait) done.push(client.wait(1, 500));
        const results = await Promise.all(done);
        if (withWait && results[2] < 1) throw new Error('the replica did not acknowledge in time');
        latencies.push(performance.now() - started);
        writes += 1;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { perSecond: writes / SECONDS, p99: latencies[Math.floor(latencies.length * 0.99)] };
}

async function main() {
  const primaryPort = 20000 + Math.floor(Math.random() * 20000);
  const primary = await server(primaryPort);
  const replica = await server(primaryPort + 1, ['--replicaof', '127.0.0.1', String(primaryPort)]);
  try {
    while (!/master_link_status:up/.test(await replica.client.info('replication'))) await sleep(50);
    const producer = new Redis({ port: primaryPort, host: '127.0.0.1', enableAutoPipelining: true });
    for (const withWait of [false, true, false, true]) {
      await primary.client.flushall();
      const { perSecond, p99 } = await run(producer, withWait);
      process.stdout.write(
        `${withWait ? 'with WAIT 1   ' : 'without WAIT  '} ${Math.round(perSecond)} writes/s, p99 ${p99.toFixed(2)} ms\n`,
      );
    }
    producer.disconnect();
  } finally {
    await replica.stop();
    await primary.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
