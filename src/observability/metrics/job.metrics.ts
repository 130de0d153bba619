// Counters of what happens to jobs: registered by the API, then completed, retried or failed by the worker.
import { Inject, Injectable } from '@nestjs/common';
import type { Job } from 'bullmq';
import { Counter, Histogram, Registry } from 'prom-client';
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

/** From 1 ms to 1 h: a job on time starts within milliseconds; a backlog or an outage shows in seconds to hours. */
export const LATENESS_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600,
];

@Injectable()
export class JobMetrics {
  private readonly registeredTotal: Counter;
  private readonly completedTotal: Counter;
  private readonly failedTotal: Counter;
  private readonly retriedTotal: Counter;
  private readonly expiredTotal: Counter;
  private readonly stalledTotal: Counter;
  private readonly lateness: Histogram;

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
    this.stalledTotal = counter(
      'dm_jobqueue_jobs_stalled_total',
      "Active jobs this process's stalled-job check took back from a worker that stopped renewing their lock.",
    );
    this.lateness = new Histogram({
      name: 'dm_jobqueue_job_lateness_seconds',
      help: 'How late each attempt started in this process: its start minus the time it was due (a retry: after its backoff).',
      buckets: LATENESS_BUCKETS,
      registers: [registry],
    });
  }

  /** An attempt started `seconds` after it was due (never negative: a job is never taken early). */
  started(seconds: number): void {
    this.lateness.observe(Math.max(0, seconds));
  }

  stalled(): void {
    this.stalledTotal.inc();
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
