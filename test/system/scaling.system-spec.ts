// SPEC 7: API-only and worker-only processes against one Redis (the built server, child processes).
import { randomUUID } from 'node:crypto';
import { testEnv } from '../support/app';
import { RedisServer } from '../support/redis-server';
import { timesPrinted, untilAllPrinted } from '../support/sentinel';
import { ServerProcess } from '../support/server-process';

jest.setTimeout(60_000);

describe('APP_ROLE', () => {
  let redis: RedisServer;
  let api: ServerProcess;
  let workers: ServerProcess[];

  beforeAll(async () => {
    redis = await RedisServer.start();
    const env = (role: string) =>
      testEnv(redis.url, { APP_ROLE: role, WORKER_LOCK_DURATION_MS: '1000', WORKER_STALLED_INTERVAL_MS: '500' });
    [api, ...workers] = await Promise.all([
      ServerProcess.start(env('api')),
      ServerProcess.start(env('worker')),
      ServerProcess.start(env('worker')),
    ]);
    await Promise.all([api, ...workers].map((server) => server.untilReady()));
  });

  afterAll(async () => {
    await Promise.all([api, ...(workers ?? [])].filter(Boolean).map((server) => server.kill()));
    await redis?.close();
  });

  it('should check only Redis in an API process, and Redis and the worker in a worker process', async () => {
    const apiReady = await (await api.fetch('/health/ready')).json();
    const workerReady = await (await workers[0].fetch('/health/ready')).json();

    expect(Object.keys(apiReady.details)).toEqual(['redis']);
    expect(Object.keys(workerReady.details).sort()).toEqual(['redis', 'worker']);
  });

  it('should answer 404 to the job API in a worker process', async () => {
    const response = await workers[0].register({ delay_seconds: 0 });

    expect(response.status).toBe(404);
    expect((await workers[0].fetch('/api/dm-jobqueue/jobs/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('should run every job registered through the API exactly once across the workers, and none in the API', async () => {
    const messages = Array.from({ length: 200 }, () => `scaled ${randomUUID()}`);
    const statuses = await Promise.all(
      messages.map((message, i) => api.register({ message, delay_seconds: i % 2 }).then((r) => r.status)),
    );
    expect(statuses.every((status) => status === 201)).toBe(true);

    // The sentinel is due a second after the last of them, as the duplicates of a stalled job would be.
    await untilAllPrinted(workers, messages, api, 2);

    for (const message of messages) expect(timesPrinted(workers, message)).toBe(1);
    expect(api.jobLines).toEqual([]);
    expect(workers.every((worker) => messages.some((message) => worker.printed(message).length === 1))).toBe(true);
  });

  it('should hand the jobs of a killed worker to the other', async () => {
    const [doomed, survivor] = workers;
    const messages = Array.from({ length: 50 }, () => `handed over ${randomUUID()}`);
    for (const message of messages) expect((await api.register({ message, delay_seconds: 2 })).status).toBe(201);

    await doomed.kill();

    await untilAllPrinted([survivor], messages, api, 2);
    for (const message of messages) expect(survivor.printed(message)).toHaveLength(1);
  });

  it('should shut both roles down with exit code 0', async () => {
    const [apiExit, workerExit] = await Promise.all([api.stop('SIGTERM'), workers[1].stop('SIGTERM')]);

    expect(apiExit).toEqual({ code: 0, signal: null });
    expect(workerExit).toEqual({ code: 0, signal: null });
  });

  it.each([
    ['cluster', 'APP_ROLE'],
    ['both', 'APP_ROLE'],
  ])('should refuse APP_ROLE=%s naming %s', async (value, name) => {
    const server = await ServerProcess.start({ ...testEnv(redis.url), APP_ROLE: value }, false);

    expect((await server.exited).code).toBe(1);
    expect(server.stderr).toContain(name);
  });
});
