#!/usr/bin/env node
// `node bench/ab.js <checkout>[:KEY=value,...] <checkout> ...`: the register throughput of several builds of the
// service, side by side (each checkout built, with its own node_modules or a link to one; the same checkout twice with
// different settings compares the settings). All start at once on one private
// redis-server, each on its own QUEUE_PREFIX, get 3 s of the bench's register load uncounted, then take turns:
// ROUNDS (default 8) rounds of SECONDS (default 5) each, the order reversed every other round, so that a machine
// whose speed drifts slows every build alike. Printed: the median requests/s and p99 of each, and every round.
// A measuring aid for bench/README.md (before/after a change), not part of the benchmark; nothing here asserts.
'use strict';
const path = require('node:path');
const { median, runWrk, startRedis, token } = require('./harness');

const checkouts = process.argv.slice(2).map((arg) => {
  const colon = arg.indexOf(':');
  const [dir, settings] = colon < 0 ? [arg, ''] : [arg.slice(0, colon), arg.slice(colon + 1)];
  const env = Object.fromEntries(
    settings
      .split(',')
      .filter(Boolean)
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  );
  return { dir: path.resolve(dir), env, label: arg };
});
const ROUNDS = Number(process.env.ROUNDS ?? 8);
const SECONDS = Number(process.env.SECONDS ?? 5);
const LOAD = { connections: 32 };

async function main() {
  if (checkouts.length < 2) throw new Error('usage: node bench/ab.js <checkout> <checkout> [...]');
  const redis = await startRedis();
  const bearer = token();
  const builds = [];
  try {
    for (const [i, { dir, env, label }] of checkouts.entries()) {
      // Each checkout's own harness, so that each starts its own dist/main.js.
      const { startTarget } = require(path.join(dir, 'bench', 'harness.js'));
      const side = await startTarget(
        'service',
        redis.url,
        { QUEUE_PREFIX: `{ab-${i}}`, ...env },
        { countLines: false },
      );
      builds.push({ dir: label, side, rps: [], p99: [] });
    }
    for (const build of builds) await runWrk(build.side.url, bearer, { ...LOAD, seconds: 3 });
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
        const { rps, p99 } = await runWrk(build.side.url, bearer, { ...LOAD, seconds: SECONDS });
        build.rps.push(rps);
        build.p99.push(p99);
      }
    }
    for (const { dir, rps, p99 } of builds) {
      const rounds = rps.map((value) => value.toFixed(0)).join(' ');
      process.stdout.write(
        `${dir}: ${median(rps).toFixed(0)} requests/s, p99 ${median(p99).toFixed(2)} ms (rounds: ${rounds})\n`,
      );
    }
  } finally {
    for (const { side } of builds) await side.stop();
    await redis.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
