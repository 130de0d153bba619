import { HttpException, Logger } from '@nestjs/common';
import { RedisServer } from '../support/redis-server';
import { eventually, sleep } from '../support/wait';
import type { Env } from '../../src/config/env.validation';
import { createRedisConnection, type RedisClient } from '../../src/redis/redis-connection.factory';
import { IDEMPOTENCY_TTL_MS, idempotencyRedisKey } from '../../src/jobs/api/idempotency';
import { IdempotencyService } from '../../src/jobs/api/idempotency.service';
import type { JobRequest } from '../../src/jobs/job';
import type { RegisteredJobDto } from '../../src/jobs/api/dto/job-responses.dto';
import { JobsService, queueUnavailable } from '../../src/jobs/api/jobs.service';
import type { SchedulesService } from '../../src/jobs/api/schedules.service';
import type { AppConfig } from '../../src/config/app-config';

const PREFIX = '{idem-spec}';
const TIMEOUT_MS = 300;
const config = {
  get: (key: keyof Env) => (({ REDIS_TIMEOUT_MS: TIMEOUT_MS, QUEUE_PREFIX: PREFIX }) as Partial<Env>)[key],
} as unknown as AppConfig;

const data: JobRequest = { message: 'hello', delay_seconds: 60, max_retry: 2 };

/** Stands in for the producer: records each job it is asked to store, after `delayMs`, or fails with 503. */
class FakeJobs {
  readonly stored: string[] = [];
  readonly discarded: string[] = [];
  delayMs = 0;
  failing = false;

  async register(job: JobRequest, _owner: string, jobId: string): Promise<RegisteredJobDto> {
    const failing = this.failing; // decided when the call starts
    if (this.delayMs > 0) await sleep(this.delayMs);
    if (failing) throw queueUnavailable();
    this.stored.push(jobId);
    return {
      job_id: jobId,
      status: 'registered',
      delay_seconds: job.delay_seconds!,
      max_retry: job.max_retry,
      run_at: '2026-01-02T03:04:05.000Z',
      expires_at: null,
    };
  }

  discard(jobId: string): void {
    this.discarded.push(jobId);
  }
}

/** The HTTP answer an exception stands for. */
async function failureOf(promise: Promise<unknown>): Promise<{ status: number; body: unknown }> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof HttpException)) throw error;
    return { status: error.getStatus(), body: error.getResponse() };
  }
  throw new Error('expected a failure');
}

// Against a private, real redis-server: the atomicity under test is Redis's.
describe('IdempotencyService', () => {
  let server: RedisServer;
  let client: RedisClient;
  let jobs: FakeJobs;
  let service: IdempotencyService;
  let keyCounter = 0;
  let key: string;
  /** Resolves once alice's key is in Redis (claimed) or, with `present` false, gone (given up). */
  const untilKey = (present: boolean) =>
    eventually(
      async () => (await client.exists(idempotencyRedisKey(PREFIX, 'alice', key))) === (present ? 1 : 0) || undefined,
      5_000,
      present ? 'the key to be claimed' : 'the key to be given up',
      5,
    );

  beforeAll(async () => {
    Logger.overrideLogger(false);
    server = await RedisServer.start();
    client = createRedisConnection(server.url, 'producer');
    client.setMaxListeners(50); // each test builds a service, and each listens for 'ready'
    await eventually(() => client.status === 'ready' || undefined, 5_000, 'the client to connect', 20);
  });

  afterAll(async () => {
    client?.disconnect();
    await server?.close();
  });

  beforeEach(() => {
    jobs = new FakeJobs();
    // Schedules are not what this spec is about (test/e2e/schedules.e2e-spec.ts covers their keys).
    service = new IdempotencyService(client, jobs as unknown as JobsService, {} as SchedulesService, config);
    key = `key-${++keyCounter}`;
  });

  it('should store the job once and answer a repeat with the same job', async () => {
    const first = await service.register('alice', key, data);
    const second = await service.register('alice', key, { ...data });

    expect(first).toEqual({
      replayed: false,
      answer: {
        job_id: jobs.stored[0],
        status: 'registered',
        delay_seconds: 60,
        max_retry: 2,
        run_at: '2026-01-02T03:04:05.000Z',
        expires_at: null,
      },
    });
    expect(second).toEqual({ ...first, replayed: true });
    expect(jobs.stored).toHaveLength(1);
  });

  it('should keep the key 24 h, under the queue prefix, holding hashes and the answer only', async () => {
    const { answer } = await service.register('alice', 'order-42', data);

    const redisKey = idempotencyRedisKey(PREFIX, 'alice', 'order-42');
    const value = String(await client.get(redisKey));
    expect(JSON.parse(value)).toEqual({
      fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
      job_id: jobs.stored[0],
      run_at: '2026-01-02T03:04:05.000Z',
      answer,
    });
    expect(value).not.toMatch(/alice|order-42|hello/);
    const ttl = await client.pttl(redisKey);
    expect(ttl).toBeGreaterThan(IDEMPOTENCY_TTL_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(IDEMPOTENCY_TTL_MS);
  });

  it('should refuse the same key with a different request', async () => {
    await service.register('alice', key, data);

    expect(await failureOf(service.register('alice', key, { ...data, message: 'other' }))).toEqual({
      status: 409,
      body: {
        statusCode: 409,
        message: 'Idempotency-Key was already used with a different request',
        error: 'Conflict',
      },
    });
    expect(jobs.stored).toHaveLength(1);
  });

  it('should keep the keys of different subjects apart', async () => {
    const alice = await service.register('alice', key, data);
    const bob = await service.register('bob', key, data);

    expect(bob.replayed).toBe(false);
    expect(bob.answer.job_id).not.toBe(alice.answer.job_id);
    expect(jobs.stored).toHaveLength(2);
  });

  it('should store one job for concurrent repeats, and answer them all with it', async () => {
    jobs.delayMs = 50;

    const results = await Promise.all(Array.from({ length: 20 }, () => service.register('alice', key, data)));

    expect(jobs.stored).toHaveLength(1);
    expect(new Set(results.map((result) => result.answer.job_id))).toEqual(new Set(jobs.stored));
    expect(results.filter((result) => !result.replayed)).toHaveLength(1);
  });

  it('should refuse a concurrent different request at once, while the first is still pending', async () => {
    jobs.delayMs = 100;
    const first = service.register('alice', key, data);
    await untilKey(true);

    const failure = await failureOf(service.register('alice', key, { ...data, max_retry: 3 }));

    expect(failure.status).toBe(409);
    expect(jobs.stored).toHaveLength(0); // refused without waiting for the first request
    expect((await first).replayed).toBe(false);
  });

  it('should answer 409 in progress when the first request is still storing at the deadline', async () => {
    jobs.delayMs = TIMEOUT_MS + 200;
    const first = service.register('alice', key, data);
    await untilKey(true);

    const started = Date.now();
    expect(await failureOf(service.register('alice', key, data))).toEqual({
      status: 409,
      body: { statusCode: 409, message: 'A request with this Idempotency-Key is still in progress', error: 'Conflict' },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 30); // it did wait
    expect(jobs.stored).toHaveLength(0); // and gave up before the first request was done
    expect((await first).replayed).toBe(false);
    expect((await service.register('alice', key, data)).replayed).toBe(true);
  });

  it('should give the key up when the job could not be stored, so a retry stores it', async () => {
    jobs.failing = true;
    expect((await failureOf(service.register('alice', key, data))).status).toBe(503);
    await untilKey(false); // the release is not awaited

    jobs.failing = false;
    const retry = await service.register('alice', key, data);

    expect(retry.replayed).toBe(false);
    expect(jobs.stored).toEqual([retry.answer.job_id]);
  });

  it('should let a waiting repeat take over the key when the first request fails', async () => {
    jobs.delayMs = 50;
    jobs.failing = true;
    const first = failureOf(service.register('alice', key, data));
    await untilKey(true);
    const repeat = service.register('alice', key, data);
    await sleep(20);
    jobs.failing = false; // the repeat's own attempt, made once the key is free, succeeds

    expect((await first).status).toBe(503);
    const result = await repeat;
    expect(result.replayed).toBe(false);
    expect(jobs.stored).toEqual([result.answer.job_id]);
  });

  it('should remove the job and answer 503 when the key was taken over while storing it', async () => {
    jobs.delayMs = 50;
    const first = failureOf(service.register('alice', key, data));
    await untilKey(true);
    // As if the pending record had expired and another request had claimed the key meanwhile.
    await client.set(idempotencyRedisKey(PREFIX, 'alice', key), JSON.stringify({ fingerprint: 'x', job_id: 'y' }));

    expect((await first).status).toBe(503);
    expect(jobs.discarded).toEqual(jobs.stored);
    expect(await client.get(idempotencyRedisKey(PREFIX, 'alice', key))).toBe('{"fingerprint":"x","job_id":"y"}');
  });

  it('should answer 503 at once while Redis is stopped', async () => {
    await server.stop();
    try {
      const started = Date.now();
      expect(await failureOf(service.register('alice', key, data))).toEqual({
        status: 503,
        body: { statusCode: 503, message: 'Job queue is unavailable', error: 'Service Unavailable' },
      });
      expect(Date.now() - started).toBeLessThan(100);
      expect(jobs.stored).toHaveLength(0);
    } finally {
      await server.restart();
      await eventually(() => client.status === 'ready' || undefined, 8_000, 'the client to reconnect', 20);
    }
  }, 15_000);
});
