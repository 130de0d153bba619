#!/usr/bin/env node
// `node bench/redis-cost.js [target ...]` (after npm run build): where Redis's time per register request goes. Each
// target (`service`, `reference`, … as in cpu.js) in turn on one private redis-server: 2 s of the bench's register
// load uncounted, `CONFIG RESETSTAT`, 5 s more, then INFO commandstats divided by the requests: calls and µs of each
// command per request (a script's own time includes the commands it calls, which are also listed on their own).
// A measuring aid for bench/README.md, not part of the benchmark; nothing here asserts.
'use strict';
const { parseTarget, runWrk, startRedis, startTarget, token } = require('./harness');

async function main() {
  const targets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['service', 'reference'];
  const redis = await startRedis();
  const bearer = token();
  try {
    for (const target of targets) {
      const { kind, env } = parseTarget(target);
      const side = await startTarget(kind, redis.url, env, { countLines: false });
      await runWrk(side.url, bearer, { seconds: 2, connections: 32 });
      await redis.client.config('RESETSTAT');
      const { requests } = await runWrk(side.url, bearer, { seconds: 5, connections: 32 });
      const info = await redis.client.info('commandstats');
      await side.stop();
      await redis.client.flushall();
      process.stdout.write(`${target}: ${requests} requests\n`);
      const rows = [...info.matchAll(/cmdstat_(\S+):calls=(\d+),usec=(\d+)/g)]
        .map(([, command, calls, usec]) => ({ command, calls: calls / requests, us: usec / requests }))
        .sort((a, b) => b.us - a.us)
        .slice(0, 12);
      for (const { command, calls, us } of rows) {
        process.stdout.write(`  ${command.padEnd(18)} ${calls.toFixed(3)} calls  ${us.toFixed(2)} µs per request\n`);
      }
    }
  } finally {
    await redis.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
