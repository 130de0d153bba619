// Queue depth per state, read from Redis when Prometheus scrapes (never on a timer, never on a request).
import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { Gauge, Registry } from 'prom-client';
import { withTimeout } from '../../common/timeout';
import { QUEUE_NAME } from '../../jobs/job';
import { METRICS_REGISTRY } from './metrics.registry';
import { AppConfig } from '../../config/app-config';

export const QUEUE_STATES = ['waiting', 'delayed', 'active', 'completed', 'failed'] as const;

/** What the gauge needs of a BullMQ queue. */
export type JobCounter = Pick<Queue, 'getJobCounts'>;

@Injectable()
export class QueueMetrics {
  private readonly logger = new Logger(QueueMetrics.name);
  private readonly timeoutMs: number;

  constructor(
    @Inject(METRICS_REGISTRY) registry: Registry,
    config: AppConfig,
    @InjectQueue(QUEUE_NAME) private readonly queue: JobCounter,
  ) {
    this.timeoutMs = config.get('REDIS_TIMEOUT_MS');
    const gauge: Gauge<'state'> = new Gauge({
      name: 'dm_jobqueue_queue_jobs',
      help: 'Jobs in the queue per state (all processes), read from Redis at scrape time; absent when Redis did not answer.',
      labelNames: ['state'],
      registers: [registry],
      collect: () => this.collect(gauge),
    });
  }

  /**
   * Bounded by REDIS_TIMEOUT_MS, so a scrape never hangs on a frozen Redis. When Redis does not answer the
   * gauge is emptied rather than left stale, and the other metrics are still served.
   */
  async collect(gauge: Gauge<'state'>): Promise<void> {
    try {
      const counts = await withTimeout(this.queue.getJobCounts(...QUEUE_STATES), this.timeoutMs, 'counting the jobs');
      for (const state of QUEUE_STATES) gauge.set({ state }, counts[state] ?? 0);
    } catch (error) {
      gauge.reset();
      this.logger.debug(`Queue depth unavailable: ${(error as Error).message}`);
    }
  }
}
