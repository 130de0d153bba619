// The bare BullMQ worker the service's processor is measured against: same queue, same concurrency,
// prints the same escaped, local-time line.
'use strict';
const { Worker } = require('bullmq');
const Redis = require('ioredis');

const pad = (n) => String(n).padStart(2, '0');
const stamp = (d) =>
  `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const escapeLine = (s) => s.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** Starts the worker on its own connection; resolves `close()` to stop both. */
function startWorker() {
  const connection = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null });
  const prefix = process.env.QUEUE_PREFIX ?? '{dm-jobqueue}';
  const worker = new Worker(
    'jobs',
    async (job) => {
      // Started: no longer pending for its tenant's quota (contract.js), on the connection that then completes it.
      const owner = job.data.owner;
      if (owner !== undefined)
        connection
          .zrem(`${prefix}:tenant:${Buffer.from(owner).toString('base64url')}:pending`, job.id)
          .catch(() => undefined);
      process.stdout.write(`[${stamp(new Date())}] ${escapeLine(job.data.message)}\n`);
    },
    {
      connection,
      prefix,
      concurrency: Number(process.env.WORKER_CONCURRENCY ?? 10),
    },
  );
  worker.on('error', () => undefined);
  worker.on('ready', () => process.stderr.write('worker ready\n'));
  return { close: () => worker.close().then(() => connection.quit()) };
}

module.exports = { startWorker };

// Run on its own: the bare worker process of the worker benchmark.
if (require.main === module) {
  const { close } = startWorker();
  const stop = () => close().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
