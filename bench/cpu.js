#!/usr/bin/env node
// `node bench/cpu.js [seconds] [target ...]`: where the CPU of a register request goes. Every target
// (`service`, `reference`, `fastify`, `nest`, optionally with environment: `service:LOG_LEVEL=warn,METRICS_ENABLED=false`)
// starts at once on one private redis-server, each with its own queue (QUEUE_PREFIX), and gets 3 s of the bench's
// register load (wrk -t1 -c32) uncounted. Then the load goes to one target at a time for `seconds` (default 1),
// ROUNDS times (default 20), the order reversed every other round, so that a machine whose speed drifts (a
// shared VM) slows every target alike rather than the ones that happened to run at a bad moment. Printed:
// requests/s (median of the runs), then CPU µs per request (totals over all runs) of the target's main thread,
// its other threads (V8's garbage collector, libuv), Redis, wrk and this script, from /proc. The reference and
// the floors run the bare worker in their process, as in `npm run bench`.
// A measuring aid for bench/README.md, not part of the benchmark; nothing here asserts.
'use strict';
const { readFileSync, readdirSync } = require('node:fs');
const { median, runWrk, startAll, startRedis, stopAll, takeTurns, token } = require('./harness');

const [secondsArg = '1', ...targetArgs] = process.argv.slice(2);
const SECONDS = Number(secondsArg);
const TARGETS = targetArgs.length > 0 ? targetArgs : ['reference', 'nest', 'service'];
const ROUNDS = Number(process.env.ROUNDS ?? 20);
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

/** One run of the load on one target, its CPU added to the target's totals. */
async function measure(side, redis, bearer) {
  const before = {
    node: threadTicks(side.child.pid),
    redis: ticksOf(`/proc/${redis.pid}/stat`),
    wrk: childTicks(),
    self: process.cpuUsage(),
  };
  const { rps } = await runWrk(side.url, bearer, { ...LOAD, seconds: SECONDS });
  const after = {
    node: threadTicks(side.child.pid),
    redis: ticksOf(`/proc/${redis.pid}/stat`),
    wrk: childTicks(),
    self: process.cpuUsage(before.self),
  };
  side.rps.push(rps);
  side.requests += rps * SECONDS;
  side.main += (after.node.main - before.node.main) * TICK_US;
  side.threads += (after.node.others - before.node.others) * TICK_US;
  side.redis += (after.redis - before.redis) * TICK_US;
  side.wrk += (after.wrk - before.wrk) * TICK_US;
  side.harness += after.self.user + after.self.system;
}

async function main() {
  const redis = await startRedis();
  const bearer = token();
  const totals = () => ({ rps: [], requests: 0, main: 0, threads: 0, redis: 0, wrk: 0, harness: 0 });
  let sides = [];
  try {
    sides = (await startAll(TARGETS, redis.url, 'cpu')).map((side) => ({ ...side, ...totals() }));
    for (const side of sides) await runWrk(side.url, bearer, { ...LOAD, seconds: 3 });
    await takeTurns(sides, ROUNDS, (side) => measure(side, redis, bearer));
  } finally {
    await stopAll(sides).finally(() => redis.stop());
  }
  const columns = ['main', 'threads', 'redis', 'wrk', 'harness'];
  process.stdout.write(
    `| target | requests/s | µs CPU per request: main thread | other threads | Redis | wrk | harness |\n| --- |${' ---: |'.repeat(6)}\n`,
  );
  for (const side of sides) {
    const perRequest = columns.map((key) => (side[key] / side.requests).toFixed(1));
    process.stdout.write(`| ${side.target} | ${median(side.rps).toFixed(0)} | ${perRequest.join(' | ')} |\n`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
