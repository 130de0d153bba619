// SPEC 5.5: Redis stopped, frozen and restarted under a running service (real AppModule, private redis-server).
import type { Queue } from 'bullmq';
import { startApp, TestApp, testEnv } from '../support/app';
import { JobLines } from '../support/job-lines';
import { serviceQueue } from '../support/queue';
import { RedisServer } from '../support/redis-server';
import { untilSentinelPrinted } from '../support/sentinel';
import { bearer } from '../support/tokens';
import { eventually, sleep } from '../support/wait';

jest.setTimeout(60_000);

const UNAVAILABLE = { statusCode: 503, message: 'Job queue is unavailable', error: 'Service Unavailable' };

describe('Redis outage', () => {
  let redis: RedisServer;
  let app: TestApp;
  let queue: Queue;
  let lines: JobLines;

  beforeAll(async () => {
    // AOF on, as in docker-compose.yml: a graceful Redis restart keeps the queued jobs.
    redis = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] });
    lines = new JobLines();
    app = await startApp(testEnv(redis.url, { REDIS_TIMEOUT_MS: '300' }));
    queue = serviceQueue(redis.url);
  });

  afterAll(async () => {
    await app?.close();
    await queue?.close();
    lines?.restore();
    await redis?.close();
  });

  const register = (body: object) =>
    app.inject({
      method: 'POST',
      url: '/api/dm-jobqueue/register',
      headers: { ...bearer(), 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });

  const timed = async <T>(action: () => Promise<T>): Promise<[T, number]> => {
    const started = performance.now();
    const result = await action();
    return [result, performance.now() - started];
  };

  it('should answer 503 within 1 s while Redis is stopped, and recover when it returns', async () => {
    await redis.stop();

    const [response, ms] = await timed(() => register({ delay_seconds: 5 }));
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual(UNAVAILABLE);
    expect(response.headers['retry-after']).toBe('5');
    expect(ms).toBeLessThan(1_000);

    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ status: 'error', error: { redis: { status: 'down' } } });
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);

    await redis.restart();
    await app.untilReady();
    expect((await register({ delay_seconds: 5 })).statusCode).toBe(201);
  });

  it('should run a job registered before the outage once Redis is back', async () => {
    const response = await register({ message: 'survived the outage', delay_seconds: 1 });
    expect(response.statusCode).toBe(201);

    await redis.stop(); // graceful: the AOF keeps the delayed job
    await sleep(1_500); // the job falls due while Redis is away
    expect(lines.lines.filter((l) => l.endsWith('] survived the outage'))).toHaveLength(0);
    await redis.restart();

    await lines.waitFor((l) => l.endsWith('] survived the outage'));
    const job = await queue.getJob(response.json().job_id);
    expect(await job?.getState()).toBe('completed');
    await untilSentinelPrinted(register, (message) => lines.printed(message).length);
    expect(lines.lines.filter((l) => l.endsWith('] survived the outage'))).toHaveLength(1);
  });

  it('should answer 503 within 1 s while Redis is frozen, and store nothing for it', async () => {
    await app.untilReady();
    const before = await queue.getJobCounts();
    redis.freeze();
    try {
      const [response, ms] = await timed(() => register({ message: 'answered 503', delay_seconds: 2 }));
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual(UNAVAILABLE);
      expect(ms).toBeLessThan(1_000);

      const [ready, readyMs] = await timed(() => app.inject({ method: 'GET', url: '/health/ready' }));
      expect(ready.statusCode).toBe(503);
      expect(readyMs).toBeLessThan(1_000);
    } finally {
      redis.resume();
    }
    // The add reached Redis's socket before the freeze; the service takes it out again once Redis answers.
    await eventually(
      async () => {
        const after = await queue.getJobCounts();
        return after.delayed === before.delayed && after.waiting === before.waiting ? true : undefined;
      },
      5_000,
      'the orphaned job to be removed',
    );
    // Due after the refused job would have been, so printed only after it would have been.
    await untilSentinelPrinted(register, (message) => lines.printed(message).length, 2);
    expect(lines.lines.filter((l) => l.endsWith('] answered 503'))).toHaveLength(0);
  });
});
