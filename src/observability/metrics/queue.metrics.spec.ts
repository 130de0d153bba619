import { Logger } from '@nestjs/common';
import { Registry } from 'prom-client';
import { JobCounter, QueueMetrics } from './queue.metrics';
import type { AppConfig } from '../../config/app-config';

const config = { get: () => 100 } as unknown as AppConfig;

function metricsFor(queue: JobCounter): { registry: Registry; metrics: QueueMetrics } {
  const registry = new Registry();
  const metrics = new QueueMetrics(registry, config, queue);
  return { registry, metrics };
}

describe('QueueMetrics', () => {
  // Failures are logged at debug; keep the test output to the results.
  beforeAll(() => Logger.overrideLogger(false));

  it('should report the queue depth per state at scrape time', async () => {
    const counts = { waiting: 2, delayed: 5, active: 1, completed: 7, failed: 0 };
    const { registry } = metricsFor({ getJobCounts: jest.fn().mockResolvedValue(counts) });

    const text = await registry.metrics();

    for (const [state, count] of Object.entries(counts))
      expect(text).toContain(`dm_jobqueue_queue_jobs{state="${state}"} ${count}`);
  });

  it('should drop the samples rather than keep stale ones when Redis fails', async () => {
    const getJobCounts = jest
      .fn()
      .mockResolvedValueOnce({ waiting: 3 })
      .mockRejectedValueOnce(new Error('Connection is closed.'));
    const { registry } = metricsFor({ getJobCounts });
    await registry.metrics();

    const text = await registry.metrics();

    expect(text).toContain('# TYPE dm_jobqueue_queue_jobs gauge');
    expect(text).not.toContain('dm_jobqueue_queue_jobs{');
  });

  it('should answer within REDIS_TIMEOUT_MS when Redis does not answer at all', async () => {
    const { registry } = metricsFor({ getJobCounts: () => new Promise(() => undefined) });

    const started = performance.now();
    const text = await registry.metrics();

    expect(performance.now() - started).toBeLessThan(1_000);
    expect(text).not.toContain('dm_jobqueue_queue_jobs{');
  });
});
