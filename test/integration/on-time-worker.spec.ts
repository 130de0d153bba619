import { Job, Queue } from 'bullmq';
import Redis from 'ioredis';
import { RedisServer } from '../support/redis-server';
import { eventually, sleep } from '../support/wait';
import { OnTimeWorker } from '../../src/jobs/worker/on-time-worker';

const PREFIX = '{on-time-worker-spec}';
const DELAYS_MS = [400, 900, 1_400];
/** Far above the few milliseconds it takes, far below Redis's one-second timeout tick at hz 1. */
const PROMPT_MS = 250;

// A real redis-server ticking once a second (`--hz 1`): it releases a BZPOPMIN whose timeout has expired only
// on that tick, so a worker left to Redis's timeout picks a due job up anywhere up to a second late.
describe('OnTimeWorker', () => {
  /** BZPOPMIN calls Redis has served so far: one per blocking wait of a worker. */
  const blockingWaits = async (): Promise<number> =>
    Number(/cmdstat_bzpopmin:calls=(\d+)/.exec(await connection.info('commandstats'))?.[1] ?? 0);

  let server: RedisServer;
  let connection: Redis;
  let queue: Queue;
  let worker: OnTimeWorker<{ n: number }> | undefined;

  beforeAll(async () => {
    server = await RedisServer.start({ args: ['--hz', '1'] });
    connection = new Redis(server.url, { maxRetriesPerRequest: null });
    queue = new Queue('jobs', { connection: { url: server.url }, prefix: PREFIX });
  });

  afterEach(async () => {
    await worker?.close();
    worker = undefined;
    await queue.obliterate({ force: true });
  });

  afterAll(async () => {
    await queue.close();
    await connection.quit();
    await server.stop();
  });

  it('should start each delayed job as soon as it is due, not on the next Redis tick', async () => {
    const done: Promise<Job>[] = [];
    worker = new OnTimeWorker<{ n: number }>('jobs', async () => undefined, { connection, prefix: PREFIX });
    await worker.waitUntilReady();
    const finished = new Map<string, (job: Job) => void>();
    worker.on('completed', (job) => finished.get(job.id!)?.(job));
    for (const [n, delay] of DELAYS_MS.entries()) {
      const job = await queue.add('n', { n }, { delay });
      done.push(new Promise((resolve) => finished.set(job.id!, resolve)));
    }

    const lateness = (await Promise.all(done)).map((job) => job.processedOn! - (job.timestamp + job.opts.delay!));

    for (const ms of lateness) {
      expect(ms).toBeGreaterThanOrEqual(0); // never early
      expect(ms).toBeLessThan(PROMPT_MS);
    }
  });

  it('should wait quietly for a job due in 30 days', async () => {
    worker = new OnTimeWorker<{ n: number }>('jobs', async () => undefined, { connection, prefix: PREFIX });
    await worker.waitUntilReady();
    await queue.add('n', { n: 0 }, { delay: 30 * 86_400_000 });
    await sleep(200);
    const waitsBefore = await blockingWaits();
    await sleep(1_000);

    // One wait, not a wake-up every millisecond (a timer beyond setTimeout's range would fire at once).
    expect((await blockingWaits()) - waitsBefore).toBeLessThanOrEqual(1);
    expect(await queue.getJobCounts('delayed', 'active')).toEqual({ delayed: 1, active: 0 });
  });

  it('should write nothing to Redis once closed', async () => {
    worker = new OnTimeWorker<{ n: number }>('jobs', async () => undefined, { connection, prefix: PREFIX });
    // The sentinel: a worker of another queue, with a job due at the same moment, still running.
    const sentinelQueue = new Queue('sentinel', { connection: { url: server.url }, prefix: PREFIX });
    const sentinel = new OnTimeWorker<{ n: number }>('sentinel', async () => undefined, { connection, prefix: PREFIX });
    try {
      await Promise.all([worker.waitUntilReady(), sentinel.waitUntilReady()]);
      await Promise.all([queue.add('n', { n: 0 }, { delay: 600 }), sentinelQueue.add('n', { n: 0 }, { delay: 600 })]);
      await sleep(200); // both now wait for their job, their wake-ups set for 400 ms from now
      await worker.close();
      worker = undefined;
      // Its job started, so the moment the closed worker's timer was set for has passed.
      await eventually(async () =>
        (await sentinelQueue.getJobCounts('completed')).completed === 1 ? true : undefined,
      );
    } finally {
      await sentinel.close();
      await sentinelQueue.obliterate({ force: true });
      await sentinelQueue.close();
    }

    expect(await connection.zcard(`${PREFIX}:jobs:marker`)).toBe(0);
    expect(await queue.getJobCounts('delayed', 'active', 'completed')).toEqual({ delayed: 1, active: 0, completed: 0 });
  });
});
