#!/usr/bin/env node
// `node bench/memory.js` (after npm run build): what the service's start-up time and idle RSS are made of, beside
// the reference's. Each figure is the median of ROUNDS (default 5) fresh processes:
// - each package the service loads, required on its own in a bare node process: RSS and time above bare node;
// - all of the service's code (`dist/app.factory.js` and what it imports), required without starting anything;
// - the service and the reference started for real against a private redis-server: spawn to the first 200 from
//   /health/ready, then RSS one second later, split by /proc/<pid>/smaps_rollup into anonymous memory (V8's heap,
//   buffers, native allocations) and file-backed pages (the node binary's code and data).
// A measuring aid for bench/README.md, not part of the benchmark; nothing here asserts.
'use strict';
const { execFileSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const path = require('node:path');
const { sleep, startRedis, startTarget } = require('./harness');

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const ROOT = path.join(__dirname, '..');
const PACKAGES = [
  '@nestjs/core',
  '@nestjs/platform-fastify',
  '@nestjs/swagger',
  'bullmq',
  'class-validator',
  'prom-client',
  'nestjs-pino',
  'passport-jwt',
  '@opentelemetry/sdk-node',
];

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** RSS (MiB) and time (ms) of a fresh node process after requiring `what` ('' for nothing), `ROUNDS` times. */
function required(what) {
  const script = `
    const started = performance.now();
    ${what ? `require(${JSON.stringify(what)});` : ''}
    const ms = performance.now() - started;
    setTimeout(() => {
      const rss = Number(/VmRSS:\\s+(\\d+)/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1]);
      process.stdout.write(JSON.stringify({ rss: rss / 1024, ms }));
    }, 200);`;
  const runs = Array.from({ length: ROUNDS }, () =>
    JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' })),
  );
  return { rss: median(runs.map((r) => r.rss)), ms: median(runs.map((r) => r.ms)) };
}

/** Rss, Anonymous and the rest (file-backed) of a process, MiB. */
function smaps(pid) {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)[1]);
  return { rss: kb('Rss') / 1024, anonymous: kb('Anonymous') / 1024, file: (kb('Rss') - kb('Anonymous')) / 1024 };
}

async function started(kind, redisUrl) {
  const runs = [];
  for (let i = 0; i < ROUNDS; i += 1) {
    const target = await startTarget(kind, redisUrl, kind === 'service' ? {} : { WITH_WORKER: '1' }, {
      countLines: false,
    });
    await sleep(1_000);
    runs.push({ startupMs: target.startupMs, ...smaps(target.child.pid) });
    await target.stop();
  }
  const pick = (key) => median(runs.map((r) => r[key]));
  return { startupMs: pick('startupMs'), rss: pick('rss'), anonymous: pick('anonymous'), file: pick('file') };
}

const f = (n, digits = 1) => n.toFixed(digits);

async function main() {
  const bare = required('');
  process.stdout.write(
    `bare node: RSS ${f(bare.rss)} MiB\n\n| loaded | RSS above bare node (MiB) | require time (ms) |\n`,
  );
  process.stdout.write('| --- | ---: | ---: |\n');
  for (const name of [...PACKAGES, './dist/app.factory']) {
    const { rss, ms } = required(name);
    process.stdout.write(
      `| ${name === './dist/app.factory' ? "all of the service's code" : name} | ${f(rss - bare.rss)} | ${f(ms, 0)} |\n`,
    );
  }
  const redis = await startRedis();
  try {
    process.stdout.write('\n| started | spawn to ready (ms) | idle RSS (MiB) | anonymous | file-backed |\n');
    process.stdout.write('| --- | ---: | ---: | ---: | ---: |\n');
    for (const kind of ['service', 'reference']) {
      const s = await started(kind, redis.url);
      process.stdout.write(`| ${kind} | ${f(s.startupMs, 0)} | ${f(s.rss)} | ${f(s.anonymous)} | ${f(s.file)} |\n`);
    }
  } finally {
    await redis.stop();
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
