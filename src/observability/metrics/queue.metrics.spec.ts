import { Logger } from '@nestjs/common';
import { Registry } from 'prom-client';
import { JobCounter, QUEUE_READ_CACHE_MS, QueueMetrics, RedisMemory } from './queue.metrics';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
import type { AppConfig } from '../../config/app-config';

const config = { get: () => 100 } as unknown as AppConfig;

function metricsFor(
  queue: JobCounter,
  memory: Pick<RedisMemory, 'read'> = { read: jest.fn().mockResolvedValue({ used: 1_000, max: 0 }) },
): { registry: Registry; metrics: QueueMetrics } {
  const registry = new Registry();
  const metrics = new QueueMetrics(registry, config, queue, memory);
  return { registry, metrics };
}

describe('QueueMetrics', () => {
  // Failures are logged at debug; keep the test output to the results.
  beforeAll(() => Logger.overrideLogger(false));

  it('should report the queue depth per state at scrape time', async () => {
    const counts = { waiting: 2, delayed: 5, active: 1, completed: 7, failed: 0 };
    const { registry } = metricsFor({
      getJobCounts: jest.fn().mockResolvedValue(counts),
      getWaiting: jest.fn().mockResolvedValue([]),
    });

    const text = await registry.metrics();

    for (const [state, count] of Object.entries(counts))
      expect(text).toContain(`dm_jobqueue_queue_jobs{state="${state}"} ${count}`);
  });

  it('should drop the samples rather than keep stale ones when Redis fails', async () => {
    const getJobCounts = jest
      .fn()
      .mockResolvedValueOnce({ waiting: 3 })
      .mockRejectedValueOnce(new Error('Connection is closed.'));
    const { registry } = metricsFor({
      getJobCounts,
      getWaiting: jest.fn().mockResolvedValue([]),
    });
    await registry.metrics();
    await sleep(QUEUE_READ_CACHE_MS + 50);

    const text = await registry.metrics();

    expect(text).toContain('# TYPE dm_jobqueue_queue_jobs gauge');
    expect(text).not.toContain('dm_jobqueue_queue_jobs{');
  });

  it('should answer within REDIS_TIMEOUT_MS when Redis does not answer at all', async () => {
    const { registry } = metricsFor({
      getJobCounts: () => new Promise(() => undefined),
      getWaiting: () => new Promise(() => undefined),
    } as unknown as JobCounter);

    const started = performance.now();
    const text = await registry.metrics();

    expect(performance.now() - started).toBeLessThan(1_000);
    expect(text).not.toContain('dm_jobqueue_queue_jobs{');
  });

  it('should report how long the oldest waiting job has waited since it was due, and 0 when none waits', async () => {
    const due = Date.now() - 42_000;
    const getWaiting = jest
      .fn()
      .mockResolvedValueOnce([{ id: 'a', timestamp: due - 10_000, data: { delay_seconds: 10 } }])
      .mockResolvedValueOnce([]);
    const getJobCounts = jest.fn().mockResolvedValue({ waiting: 1 });
    const { registry } = metricsFor({ getJobCounts, getWaiting });

    const age = Number(
      /^dm_jobqueue_oldest_waiting_job_age_seconds{queue="jobs"} (\S+)$/m.exec(await registry.metrics())![1],
    );
    expect(age).toBeGreaterThanOrEqual(42);
    expect(age).toBeLessThan(44);
    await sleep(QUEUE_READ_CACHE_MS + 50);
    expect(await registry.metrics()).toContain('dm_jobqueue_oldest_waiting_job_age_seconds{queue="jobs"} 0');
  });

  it("should report the memory of the queue's Redis and its limit, and drop only those when INFO fails", async () => {
    const read = jest
      .fn()
      .mockResolvedValueOnce({ used: 123_456, max: 1_048_576 })
      .mockRejectedValueOnce(new Error('NOSCRIPT'));
    const queue = {
      getJobCounts: jest.fn().mockResolvedValue({ waiting: 4 }),
      getWaiting: jest.fn().mockResolvedValue([]),
    };
    const { registry } = metricsFor(queue, { read });

    const text = await registry.metrics();
    expect(text).toContain('dm_jobqueue_redis_memory_used_bytes{queue="jobs"} 123456');
    expect(text).toContain('dm_jobqueue_redis_memory_max_bytes{queue="jobs"} 1048576');
    await sleep(QUEUE_READ_CACHE_MS + 50);
    const failed = await registry.metrics();
    expect(failed).not.toMatch(/^dm_jobqueue_redis_memory_(used|max)_bytes\{/m);
    // The queue itself was read: its depth stays.
    expect(failed).toContain('dm_jobqueue_queue_jobs{state="waiting"} 4');
    expect(failed).toContain('dm_jobqueue_oldest_waiting_job_age_seconds{queue="jobs"} 0');
    expect(read).toHaveBeenCalledTimes(2);
  });

  it('should read Redis once for scrapes within a second of each other', async () => {
    const getJobCounts = jest.fn().mockResolvedValue({ waiting: 1 });
    const getWaiting = jest.fn().mockResolvedValue([]);
    const { registry } = metricsFor({ getJobCounts, getWaiting });

    await Promise.all([registry.metrics(), registry.metrics(), registry.metrics()]);

    expect(getJobCounts).toHaveBeenCalledTimes(1);
    expect(getWaiting).toHaveBeenCalledTimes(1);
  });
});
