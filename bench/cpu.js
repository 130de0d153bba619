#!/usr/bin/env node
// `node bench/cpu.js [seconds] [target ...]`: where the CPU of a register request goes. Each target
// (`service`, `reference`, `fastify`, `nest`, optionally with environment: `service:LOG_LEVEL=warn,METRICS_ENABLED=false`)
// runs in turn on one private redis-server under the bench's register load (wrk -t2 -c32, 2 s uncounted
// first), ROUNDS times (default 3), and the medians are printed: requests/s, then CPU µs per request of the
// target's main thread, its other threads (V8's garbage collector, libuv), Redis, wrk and this script, from
// /proc. The reference and the floors run the bare worker in their process, as in `npm run bench`.
// A measuring aid for bench/README.md, not part of the benchmark; nothing here asserts.
'use strict';
const { readFileSync, readdirSync } = require('node:fs');
const { median, runWrk, startRedis, startTarget, token } = require('./harness');

const [secondsArg = '6', ...targetArgs] = process.argv.slice(2);
const SECONDS = Number(secondsArg);
const TARGETS = targetArgs.length > 0 ? targetArgs : ['reference', 'nest', 'service'];
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const TICK_US = 1_000_000 / 100; // USER_HZ
const LOAD = { connections: 32 };

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

async function measure(target, redis, bearer) {
  const [kind, settings = ''] = target.split(':');
  const extra = Object.fromEntries(settings.split(',').filter(Boolean).map((pair) => pair.split('=')));
  const { child, url, stop } = await startTarget(kind, redis.url, { ...(kind === 'service' ? {} : { WITH_WORKER: '1' }), ...extra },
    { countLines: false });
  await runWrk(url, bearer, { ...LOAD, seconds: 2 });
  const before = { node: threadTicks(child.pid), redis: ticksOf(`/proc/${redis.pid}/stat`), wrk: childTicks(), self: process.cpuUsage() };
  const { rps } = await runWrk(url, bearer, { ...LOAD, seconds: SECONDS });
  const after = { node: threadTicks(child.pid), redis: ticksOf(`/proc/${redis.pid}/stat`), wrk: childTicks(), self: process.cpuUsage(before.self) };
  const requests = rps * SECONDS;
  const perRequest = (ticks) => (ticks * TICK_US) / requests;
  await stop();
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
  const redis = await startRedis();
  const bearer = token();
  const results = Object.fromEntries(TARGETS.map((target) => [target, []]));
  try {
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const target of TARGETS) results[target].push(await measure(target, redis, bearer));
    }
  } finally {
    await redis.stop();
  }
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
