#!/usr/bin/env node
// `node bench/alloc.js [seconds] [target ...]`: what a register request allocates, by package and by function. Each
// target (default `reference` and `service`; names as in cpu.js) runs in turn on one private redis-server with
// bench/alloc-sampler.js preloaded, gets 3 s of the bench's register load uncounted, then `seconds` (default 5) of
// it with V8's sampling heap profiler on (objects already collected included). Printed per target: KiB allocated
// per request, then bytes per request by package or module and for the functions that allocate most. Every byte
// allocated is a byte the young generation's scavenges must make room for (bench/README.md).
// A measuring aid for bench/README.md, not part of the benchmark; nothing here asserts.
'use strict';
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fileOf, parseTarget, placeOf, runWrk, sleep, startRedis, startTarget, token } = require('./harness');

const [secondsArg = '5', ...targetArgs] = process.argv.slice(2);
const SECONDS = Number(secondsArg);
const TARGETS = targetArgs.length > 0 ? targetArgs : ['reference', 'service'];
const LOAD = { connections: 32 };
const TOP = 25;

/** Self size of every sampled frame, summed by place and by function. */
function summarize(profile) {
  const byPlace = new Map();
  const byFunction = new Map();
  let total = 0;
  const add = (map, key, bytes) => map.set(key, (map.get(key) ?? 0) + bytes);
  const visit = (node) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = fileOf(url);
    // Frames without a file are V8's own ('(V8 API)', '(root)') or built-ins ('entries', 'all').
    const name = functionName || '(anonymous)';
    total += node.selfSize;
    add(byPlace, file ? placeOf(file) : name, node.selfSize);
    add(byFunction, file ? `${name}  ${file}:${lineNumber + 1}` : name, node.selfSize);
    for (const child of node.children) visit(child);
  };
  visit(profile.head);
  return { total, byPlace, byFunction };
}

async function measure(target, redis, bearer, dir) {
  const { kind, env } = parseTarget(target);
  const file = path.join(dir, `${target.replace(/[^\w=-]+/g, '_')}.heapprofile`);
  const side = await startTarget(
    kind,
    redis.url,
    { ...env, ALLOC_PROFILE_FILE: file },
    { countLines: false, nodeOptions: ['--require', path.join(__dirname, 'alloc-sampler.js')] },
  );
  try {
    await runWrk(side.url, bearer, { ...LOAD, seconds: 3 });
    side.child.kill('SIGUSR2');
    const { rps } = await runWrk(side.url, bearer, { ...LOAD, seconds: SECONDS });
    side.child.kill('SIGUSR2');
    // The sampler writes the file when the profiler hands the profile over.
    for (let waited = 0; ; waited += 100) {
      try {
        return { rps, ...summarize(JSON.parse(readFileSync(file, 'utf8'))) };
      } catch (error) {
        if (waited > 10_000) throw new Error(`no allocation profile from ${target}`, { cause: error });
        await sleep(100);
      }
    }
  } finally {
    await side.stop();
  }
}

async function main() {
  const redis = await startRedis();
  const bearer = token();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-alloc-'));
  try {
    for (const target of TARGETS) {
      const { rps, total, byPlace, byFunction } = await measure(target, redis, bearer, dir);
      const requests = rps * SECONDS;
      const print = (title, map) => {
        process.stdout.write(`  ${title}\n`);
        for (const [name, bytes] of [...map].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
          process.stdout.write(`  ${(bytes / requests).toFixed(0).padStart(7)} B  ${name}\n`);
        }
      };
      process.stdout.write(
        `\n${target}: ${rps.toFixed(0)} requests/s, ${(total / requests / 1024).toFixed(1)} KiB allocated per request\n`,
      );
      print('by package or module', byPlace);
      print('by function', byFunction);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await redis.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
