// The built server (node dist/main.js) as a user runs it: start-up without Redis, configuration errors,
// and SIGTERM (SPEC 5.5, 5.6, 4).
import { createServer } from 'node:net';
import { freePort } from '../support/free-port';
import { RedisServer } from '../support/redis-server';
import { serviceQueue } from '../support/queue';
import { ServerProcess } from '../support/server-process';
import { testEnv } from '../support/app';
import { sleep } from '../support/wait';

jest.setTimeout(60_000);

const env = testEnv;
const register = (server: ServerProcess, body: object = { delay_seconds: 60 }) => server.register(body);

/** Connections Redis holds, other than the one asking. */
async function otherClients(redis: RedisServer): Promise<string[]> {
  const list = String(await redis.command('CLIENT', 'LIST'));
  return list.split('\n').filter((line) => line.trim() !== '' && !line.includes('cmd=client|list'));
}

describe('the built server', () => {
  const servers: ServerProcess[] = [];
  const redises: RedisServer[] = [];
  const start = async (environment: Record<string, string>, wait = true) => {
    const server = await ServerProcess.start(environment, wait);
    servers.push(server);
    return server;
  };

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.kill()));
    await Promise.all(redises.map((redis) => redis.close()));
  });

  it('should start without Redis, answer 503, and recover when Redis appears', async () => {
    const redisPort = await freePort();
    const server = await start(env(`redis://127.0.0.1:${redisPort}`));

    const started = performance.now();
    const refused = await register(server);
    expect(refused.status).toBe(503);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toEqual({
      statusCode: 503,
      message: 'Job queue is unavailable',
      error: 'Service Unavailable',
    });
    expect((await server.fetch('/health/live')).status).toBe(200);
    const ready = await server.fetch('/health/ready');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'error', error: { redis: { status: 'down' } } });

    const redis = await RedisServer.start({ port: redisPort });
    redises.push(redis);
    await server.untilReady();
    const accepted = await register(server, { message: 'after a late Redis', delay_seconds: 0 });
    expect(accepted.status).toBe(201);
    await server.waitForOutput(/\] after a late Redis\n/);
  });

  it('should shut down on SIGTERM with exit code 0, leaving no connection and no active job in Redis', async () => {
    const redis = await RedisServer.start();
    redises.push(redis);
    const server = await start(env(redis.url));
    await server.untilReady();
    expect((await register(server, { message: 'before shutdown', delay_seconds: 0 })).status).toBe(201);
    await server.waitForOutput(/\] before shutdown\n/);
    expect(await otherClients(redis)).not.toHaveLength(0);

    const exit = await server.stop('SIGTERM');

    expect(exit).toEqual({ code: 0, signal: null });
    expect(server.stdout).toContain('Shutdown complete');
    expect(await otherClients(redis)).toEqual([]);
    const queue = serviceQueue(redis.url);
    try {
      expect(await queue.getActiveCount()).toBe(0);
      expect(await queue.getWorkers()).toEqual([]);
    } finally {
      await queue.close();
    }
  });

  it('should answer readiness 503 while shutting down and finish requests in flight', async () => {
    const redis = await RedisServer.start();
    redises.push(redis);
    const server = await start(env(redis.url, { REDIS_TIMEOUT_MS: '800' }));
    await server.untilReady();
    // A frozen Redis holds the requests in flight and makes the worker slow to close.
    redis.freeze();
    const inFlight = Array.from({ length: 5 }, () => register(server).then((response) => response.status));
    await sleep(200);

    server.child.kill('SIGTERM');
    await server.waitForOutput(/SIGTERM received/);
    const ready = await server.fetch('/health/ready');
    redis.resume();
    const statuses = await Promise.all(inFlight);
    const exit = await server.exited;

    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'shutting_down' });
    // Every request in flight got an answer; none was cut off.
    for (const status of statuses) expect([201, 503]).toContain(status);
    if (exit.code !== 0) console.log(server.stdout, server.stderr);
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('should exit 0 within SHUTDOWN_TIMEOUT_MS on SIGTERM while Redis is down', async () => {
    const redis = await RedisServer.start();
    redises.push(redis);
    const server = await start(env(redis.url, { SHUTDOWN_TIMEOUT_MS: '2000' }));
    await server.untilReady();
    await redis.kill();

    const started = performance.now();
    const exit = await server.stop('SIGTERM', 10_000);

    expect(exit).toEqual({ code: 0, signal: null });
    expect(performance.now() - started).toBeLessThan(2_000 + 1_500);
  });

  it('should keep answering, and exit 0 on SIGTERM, once nobody reads its standard output', async () => {
    const redis = await RedisServer.start();
    redises.push(redis);
    const server = await start(env(redis.url));
    await server.untilReady();
    // The log collector goes away: from now on a write to standard output fails with EPIPE.
    server.child.stdout?.destroy();
    expect((await register(server)).status).toBe(201); // its access line waits in the log buffer
    await sleep(1_000); // several periodic flushes of that buffer (LOG_FLUSH_INTERVAL_MS) meet the closed pipe

    const live = await server.fetch('/health/live', { signal: AbortSignal.timeout(5_000) });
    expect(live.status).toBe(200);
    expect(await server.stop('SIGTERM', 10_000)).toEqual({ code: 0, signal: null });
  });

  it.each([
    ['PORT', { PORT: 'eighty' }, 'PORT must be an integer number'],
    ['REDIS_URL', { REDIS_URL: 'http://127.0.0.1:6379' }, 'REDIS_URL must be a redis:// or rediss:// URL'],
    ['JWT_SECRET', { APP_ENV: 'production', JWT_SECRET: '' }, 'JWT_SECRET is required when APP_ENV is production'],
    ['JOB_MAX_RETRY', { JOB_MAX_RETRY: '-1' }, 'JOB_MAX_RETRY must not be less than 0'],
  ])('should refuse to start with a bad %s, naming it in one line', async (_, bad, message) => {
    const server = await start({ ...env('redis://127.0.0.1:1'), ...bad }, false);

    const exit = await server.exited;

    expect(exit.code).toBe(1);
    expect(server.stderr.trim()).toBe(`Invalid configuration: ${message}`);
    expect(server.stdout).not.toContain('Listening');
  });

  it('should say in one line that its port is taken, and exit 1', async () => {
    const port = await freePort();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    try {
      const server = await start({ ...env('redis://127.0.0.1:1'), PORT: String(port) }, false);

      const exit = await server.exited;

      expect(exit.code).toBe(1);
      expect(server.stderr.trim()).toBe(
        `Port ${port} on 127.0.0.1 is already in use (PORT): is another instance still running?`,
      );
      expect(server.stdout).not.toContain('Listening');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
