#!/usr/bin/env node
// `node bench/profile.js [seconds] [target]`: a CPU profile of one target (default `service`; `reference`,
// `fastify`, `nest`, optionally with environment as in cpu.js: `service:LOG_LEVEL=warn`) under the bench's
// register load (wrk -t1 -c32, 3 s uncounted first, then `seconds`, default 10; with LOAD=batch the batch run's
// load, register/batch with 100 jobs a request on 8 connections), taken with node's --cpu-prof
// (sampling every 250 µs) and written to bench/profiles/ (open it in Chrome DevTools or speedscope for a flame
// graph). Prints where the main thread's busy time went during the measured seconds: by package or module, and
// the functions with the most self time.
// A measuring aid for bench/README.md, not part of the benchmark; nothing here asserts.
'use strict';
const { mkdirSync, readdirSync, readFileSync, statSync } = require('node:fs');
const path = require('node:path');
const { fileOf, parseTarget, placeOf, runWrk, startRedis, startTarget, token } = require('./harness');

const [secondsArg = '10', target = 'service'] = process.argv.slice(2);
const OUT = path.join(__dirname, 'profiles');
const LOAD =
  process.env.LOAD === 'batch'
    ? { connections: 8, script: 'batch.lua', route: '/api/dm-jobqueue/register/batch' }
    : { connections: 32 };

/**
 * Self time per package and per function, as shares of the time the main thread was not idle, counting only
 * the samples of the measured load: those in the `seconds` before the last `tailMs` (the shutdown).
 */
function summarize(file, seconds, tailMs, requests, top = 25) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const to = profile.endTime - tailMs * 1_000;
  const from = to - seconds * 1_000_000;
  const byPlace = new Map();
  const byFunction = new Map();
  let busy = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id);
    const time = profile.timeDeltas[i];
    at += time;
    if (at < from || at > to || frame.functionName === '(idle)') return;
    busy += time;
    const file = fileOf(frame.url);
    const label = file ? placeOf(file) : frame.functionName || '(native)';
    byPlace.set(label, (byPlace.get(label) ?? 0) + time);
    const name = file ? `${frame.functionName || '(anonymous)'}  ${file}:${frame.lineNumber + 1}` : label;
    byFunction.set(name, (byFunction.get(name) ?? 0) + time);
  });
  // µs per request: the profiler slows every side, so these compare sides profiled alike, not runs without it.
  const perRequest = (time) => (time / requests).toFixed(1).padStart(6);
  const print = (title, map) => {
    process.stdout.write(`\n${title}\n`);
    for (const [name, time] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`${((time / busy) * 100).toFixed(1).padStart(5)} %  ${perRequest(time)} µs  ${name}\n`);
    }
  };
  process.stdout.write(`busy main thread: ${perRequest(busy).trim()} µs per request\n`);
  print('self time by package or module, % of the busy main thread and µs per request', byPlace);
  print('self time by function', byFunction);
}

async function main() {
  const dir = path.join(OUT, `${target.replace(/[^\w=-]+/g, '_')}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  const { kind, env } = parseTarget(target);
  const redis = await startRedis();
  const bearer = token();
  let tailMs;
  let requests;
  try {
    const side = await startTarget(kind, redis.url, env, {
      countLines: false,
      nodeOptions: ['--cpu-prof', '--cpu-prof-interval', '250', '--cpu-prof-dir', dir],
    });
    await runWrk(side.url, bearer, { ...LOAD, seconds: 3 });
    const { rps } = await runWrk(side.url, bearer, { ...LOAD, seconds: Number(secondsArg) });
    requests = rps * Number(secondsArg);
    const stopping = performance.now();
    await side.stop(); // the profile is written as the process exits
    tailMs = performance.now() - stopping;
    process.stdout.write(`${target}: ${rps.toFixed(0)} requests/s under the profiler (it slows every side)\n`);
  } finally {
    await redis.stop();
  }
  const [file] = readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => path.join(dir, name))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  if (!file) throw new Error(`no profile was written to ${dir}`);
  process.stdout.write(`profile: ${path.relative(process.cwd(), file)} (start-up, warm-up and shutdown included)\n`);
  summarize(file, Number(secondsArg), tailMs, requests);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
