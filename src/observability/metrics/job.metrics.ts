// Counters of what happens to jobs: registered by the API, then completed, retried or failed by the worker.
import { Inject, Injectable } from '@nestjs/common';
import type { Job } from 'bullmq';
import { Counter, Registry } from 'prom-client';
import { METRICS_REGISTRY } from './metrics.registry';

/** The fields of a failed BullMQ job that tell whether it will run again. */
export type FailedJob = Pick<Job, 'attemptsMade' | 'opts'>;

/**
 * Whether BullMQ retries a job after this failed attempt. The worker's 'failed' event comes after BullMQ
 * counted the attempt, so attempts remain while attemptsMade < attempts (BullMQ's own test, shifted by
 * one); an UnrecoverableError is never retried. (Nothing here calls job.discard().)
 */
export function willRetry(job: FailedJob | undefined, error: Error): boolean {
  if (!job || error.name === 'UnrecoverableError') return false;
  return job.attemptsMade < (job.opts.attempts ?? 1);
}

@Injectable()
export class JobMetrics {
  private readonly registeredTotal: Counter;
  private readonly completedTotal: Counter;
  private readonly failedTotal: Counter;
  private readonly retriedTotal: Counter;
  private readonly expiredTotal: Counter;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    const counter = (name: string, help: string) => new Counter({ name, help, registers: [registry] });
    this.registeredTotal = counter(
      'dm_jobqueue_jobs_registered_total',
      'Jobs stored by POST /api/dm-jobqueue/register.',
    );
    this.completedTotal = counter('dm_jobqueue_jobs_completed_total', 'Jobs this process ran to completion.');
    this.failedTotal = counter('dm_jobqueue_jobs_failed_total', 'Jobs that failed their last attempt in this process.');
    this.retriedTotal = counter(
      'dm_jobqueue_jobs_retried_total',
      'Failed attempts in this process that BullMQ retries.',
    );
    this.expiredTotal = counter(
      'dm_jobqueue_jobs_expired_total',
      'Jobs this process took after their expires_at and dropped without running them.',
    );
  }

  /** On the register hot path: one increment, nothing else. */
  registered(count = 1): void {
    this.registeredTotal.inc(count);
  }

  completed(): void {
    this.completedTotal.inc();
  }

  expired(): void {
    this.expiredTotal.inc();
  }

  /** A failed attempt: counted as retried when BullMQ runs the job again, as failed when it gives up. */
  failedAttempt(job: FailedJob | undefined, error: Error): void {
    if (willRetry(job, error)) this.retriedTotal.inc();
    else this.failedTotal.inc();
  }
}
