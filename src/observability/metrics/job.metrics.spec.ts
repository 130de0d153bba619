import { Registry } from 'prom-client';
import { FailedJob, JobMetrics, willRetry } from './job.metrics';

const job = (attemptsMade: number, attempts?: number): FailedJob => ({ attemptsMade, opts: { attempts } });
const failure = new Error('boom');

async function value(registry: Registry, name: string): Promise<number> {
  const metric = await registry.getSingleMetric(name)!.get();
  return metric.values[0]?.value ?? NaN;
}

describe('willRetry', () => {
  // BullMQ has already counted the failed attempt when the worker emits 'failed'.
  it.each([
    [1, 3, true],
    [2, 3, true],
    [3, 3, false],
    [1, 1, false],
    [1, undefined, false],
  ])('should say after attempt %i of %s: retried %s', (attemptsMade, attempts, expected) => {
    expect(willRetry(job(attemptsMade, attempts), failure)).toBe(expected);
  });

  it('should never retry an UnrecoverableError', () => {
    const error = Object.assign(new Error('give up'), { name: 'UnrecoverableError' });

    expect(willRetry(job(1, 5), error)).toBe(false);
  });

  it('should count a failure without a job as final', () => {
    expect(willRetry(undefined, failure)).toBe(false);
  });
});

describe('JobMetrics', () => {
  it('should count registered, completed, retried and failed jobs in its own registry', async () => {
    const registry = new Registry();
    const metrics = new JobMetrics(registry);

    metrics.registered();
    metrics.registered();
    metrics.completed();
    metrics.failedAttempt(job(1, 2), failure);
    metrics.failedAttempt(job(2, 2), failure);
    metrics.failedAttempt(undefined, failure);

    expect(await value(registry, 'dm_jobqueue_jobs_registered_total')).toBe(2);
    expect(await value(registry, 'dm_jobqueue_jobs_completed_total')).toBe(1);
    expect(await value(registry, 'dm_jobqueue_jobs_retried_total')).toBe(1);
    expect(await value(registry, 'dm_jobqueue_jobs_failed_total')).toBe(2);
  });

  it('should let two instances live side by side (one registry per application)', () => {
    expect(() => [new JobMetrics(new Registry()), new JobMetrics(new Registry())]).not.toThrow();
  });
});
