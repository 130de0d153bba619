// Redis stopped, killed, frozen, full and restarted under the built server (SPEC 5.5): fast 503s, honest
// health, recovery without a restart, and every acknowledged job run exactly once.
import { randomUUID } from 'node:crypto';
import type { RedisServer } from '../support/redis-server';
import { untilAllPrinted } from '../support/sentinel';
import { ServerProcess } from '../support/server-process';
import { Service, startService } from '../support/service';
import { eventually, sleep } from '../support/wait';

jest.setTimeout(90_000);

const UNAVAILABLE = { statusCode: 503, message: 'Job queue is unavailable', error: 'Service Unavailable' };

async function timed<T>(action: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await action();
  return [result, performance.now() - started];
}

/** Waits until every message has been printed at least once, then for a sentinel due a second later: a duplicate would have shown. */
const allPrinted = (server: ServerProcess, messages: string[]) => untilAllPrinted([server], messages, server, 1);

describe('Redis faults', () => {
  let service: Service;
  let redis: RedisServer;
  let server: ServerProcess;

  beforeAll(async () => {
    // Persistent like docker-compose.yml, with every write synced so even SIGKILL loses nothing acknowledged.
    service = await startService(
      { REDIS_TIMEOUT_MS: '400' },
      { args: ['--appendonly', 'yes', '--appendfsync', 'always'] },
    );
    ({ redis, server } = service);
  });

  afterAll(async () => {
    await service?.close();
  });

  const expectUnavailable = async () => {
    const [response, ms] = await timed(() => server.register({ delay_seconds: 60 }));
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await response.json()).toEqual(UNAVAILABLE);
    expect(ms).toBeLessThan(1_000);
    const [ready, readyMs] = await timed(() => server.fetch('/health/ready'));
    expect(ready.status).toBe(503);
    expect(readyMs).toBeLessThan(1_000);
    expect((await server.fetch('/health/live')).status).toBe(200);
  };

  const registerAll = async (count: number, delaySeconds: number): Promise<string[]> => {
    const messages = Array.from({ length: count }, () => `job ${randomUUID()}`);
    const responses = await Promise.all(
      messages.map((message) => server.register({ message, delay_seconds: delaySeconds })),
    );
    expect(responses.map((response) => response.status)).toEqual(messages.map(() => 201));
    return messages;
  };

  it.each([
    ['stopped', () => redis.stop()],
    ['killed', () => redis.kill()],
  ])('should answer 503 fast while Redis is %s, and recover without a restart', async (_, fault) => {
    await fault();
    await expectUnavailable();
    await redis.restart();
    await server.untilReady();
    expect((await server.register({ delay_seconds: 60 })).status).toBe(201);
  });

  it('should answer 503 within the timeout while Redis is frozen, and recover when it resumes', async () => {
    redis.freeze();
    try {
      await expectUnavailable();
    } finally {
      redis.resume();
    }
    await server.untilReady();
    expect((await server.register({ delay_seconds: 60 })).status).toBe(201);
  });

  it('should take jobs again after Redis dies while registrations wait for its answer (frozen, then killed)', async () => {
    // The registrations' commands are sent and never answered; then the connection drops under them. ioredis 5 would
    // keep them aside and drop them unsettled on reconnecting (redis/ioredis#2193), so the auto-pipeline they were
    // in would never finish and every later registration would wait behind it: 503 for ever.
    redis.freeze();
    const answers = await Promise.all([1, 2, 3].map(() => server.register({ delay_seconds: 60 })));
    expect(answers.map((answer) => answer.status)).toEqual([503, 503, 503]);
    await redis.kill();
    await redis.restart();
    await server.untilReady();
    const statuses: number[] = [];
    await eventually(
      async () => {
        statuses.push((await server.register({ delay_seconds: 60 })).status);
        return statuses.at(-1) === 201 ? true : undefined;
      },
      10_000,
      () => `a 201 after the restart (answers: ${statuses.join(', ')})`,
      100,
    );
    expect(statuses.filter((status) => status !== 201 && status !== 503)).toEqual([]);
  });

  it('should run every job acknowledged before a graceful Redis restart exactly once', async () => {
    const messages = await registerAll(50, 1);
    await redis.stop();
    await sleep(1_500); // the jobs fall due while Redis is away
    await redis.restart();

    await allPrinted(server, messages);
    for (const message of messages) expect(server.printed(message)).toHaveLength(1);
  });

  it('should run every acknowledged job exactly once after Redis is killed (AOF fsync always)', async () => {
    const messages = await registerAll(30, 1);
    await redis.kill();
    await sleep(1_500);
    await redis.restart();

    await allPrinted(server, messages);
    for (const message of messages) expect(server.printed(message)).toHaveLength(1);
  });

  it('should run due jobs and take new ones after an outage longer than the worker idle timeouts', async () => {
    const [before] = await registerAll(1, 2);
    await redis.stop();
    await sleep(8_000); // past BullMQ's drain delay (5 s) and several reconnect attempts
    await expectUnavailable();
    await redis.restart();
    await server.untilReady();
    const [after] = await registerAll(1, 0);

    await allPrinted(server, [before, after]);
    expect(server.printed(before)).toHaveLength(1);
    expect(server.printed(after)).toHaveLength(1);
    // The outage was reported, but not once per reconnect attempt.
    expect(server.stdout.split('\n').filter((line) => line.includes('Redis unavailable')).length).toBeLessThanOrEqual(
      12,
    );
  });

  it('should answer 503, not 500, when Redis is full (maxmemory with noeviction)', async () => {
    const used = Number(/used_memory:(\d+)/.exec(String(await redis.command('INFO', 'memory')))![1]);
    await redis.command('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    await redis.command('CONFIG', 'SET', 'maxmemory', String(used + 256 * 1024));
    try {
      const big = { message: 'x'.repeat(5_000), delay_seconds: 3_000 };
      let status = 201;
      for (let i = 0; i < 200 && status === 201; i += 1) status = (await server.register(big)).status;
      expect(status).toBe(503);
      // Near the limit Redis takes some writes and refuses others; well past it, it refuses them all.
      await redis.command('CONFIG', 'SET', 'maxmemory', '1');
      const [response, ms] = await timed(() => server.register({ delay_seconds: 60 }));
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual(UNAVAILABLE);
      expect(ms).toBeLessThan(1_000);
    } finally {
      await redis.command('CONFIG', 'SET', 'maxmemory', '0');
    }
    expect((await server.register({ delay_seconds: 60 })).status).toBe(201);
  });

  it('should have logged no unhandled error through all of it', () => {
    expect(server.stdout + server.stderr).not.toMatch(/ExceptionsHandler|Internal server error|Unhandled/);
    expect(server.child.exitCode).toBeNull();
  });
});
