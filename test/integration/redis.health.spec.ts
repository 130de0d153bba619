import { Logger } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import type Redis from 'ioredis';
import { RedisServer } from '../support/redis-server';
import { eventually } from '../support/wait';
import type { Env } from '../../src/config/env.validation';
import { createRedisConnection } from '../../src/redis/redis-connection.factory';
import { RedisHealthIndicator } from '../../src/redis/redis.health';
import type { AppConfig } from '../../src/config/app-config';

const config = {
  get: (key: keyof Env) => (({ REDIS_TIMEOUT_MS: 200 }) as Partial<Env>)[key],
} as unknown as AppConfig;

// Against a private, real redis-server that the tests freeze, stop and restart.
describe('RedisHealthIndicator', () => {
  let server: RedisServer;
  let client: Redis;
  let indicator: RedisHealthIndicator;

  beforeAll(async () => {
    // The connection logs each outage; keep the test output to the results.
    Logger.overrideLogger(false);
    server = await RedisServer.start();
    client = createRedisConnection(server.url, 'producer');
    indicator = new RedisHealthIndicator(client, new HealthIndicatorService(), config);
    await eventually(() => client.status === 'ready' || undefined, 5_000, 'the client to connect');
  });

  afterAll(async () => {
    client?.disconnect();
    await server?.close();
  });

  it('should be up with its latency while Redis answers', async () => {
    const result = await indicator.isHealthy();

    expect(result).toEqual({ redis: { status: 'up', latency_ms: expect.any(Number) } });
  });

  it('should use the key it is given', async () => {
    const result = await indicator.isHealthy('cache');

    expect(result).toEqual({ cache: { status: 'up', latency_ms: expect.any(Number) } });
  });

  it('should be down, not throw nor hang, while Redis is frozen', async () => {
    server.freeze();
    try {
      const result = await indicator.isHealthy();

      expect(result).toEqual({ redis: { status: 'down', message: 'PING timed out after 200 ms' } });
    } finally {
      server.resume();
    }
  }, 5_000);

  it('should be up again once a frozen Redis resumes', async () => {
    expect(await indicator.isHealthy()).toEqual({ redis: { status: 'up', latency_ms: expect.any(Number) } });
  });

  it('should be down while Redis is stopped', async () => {
    await server.stop();
    // Redis has exited; under load the client may learn of it a moment later (then its PING fails instead).
    await eventually(() => client.status !== 'ready' || undefined, 2_000, 'the client to see the connection close');

    const result = await indicator.isHealthy();

    // The client has seen the connection close and is trying again, so no PING is even sent.
    expect(result).toEqual({
      redis: { status: 'down', message: expect.stringMatching(/^connection (close|reconnecting|connecting)$/) },
    });
  }, 10_000);

  it('should be up again after Redis restarts and the client reconnects', async () => {
    await server.restart();
    await eventually(() => client.status === 'ready' || undefined, 8_000, 'the client to reconnect');

    expect(await indicator.isHealthy()).toEqual({ redis: { status: 'up', latency_ms: expect.any(Number) } });
  }, 15_000);
});
