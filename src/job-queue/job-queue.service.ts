// The producer: stores a job in Redis, or says clearly that it could not (and then leaves nothing behind).
import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JobsOptions, Queue } from 'bullmq';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { withHeaders } from '../common/http-exception.filter';
import { LogThrottle } from '../common/log-throttle';
import { withTimeout } from '../common/timeout';
import type { Env } from '../config/env.validation';
import { REDIS_PRODUCER } from '../redis/redis.constants';
import { JOB_NAME, JobData, QUEUE_NAME } from './job-queue.constants';

/** Seconds a client is told to wait before retrying while the queue is unavailable. */
export const RETRY_AFTER_SECONDS = 5;

export interface RegisteredJob {
  job_id: string;
  status: 'registered';
  delay_seconds: number;
  max_retry: number;
  run_at: string;
}

export function queueUnavailable(): ServiceUnavailableException {
  return withHeaders(new ServiceUnavailableException('Job queue is unavailable'), {
    'Retry-After': String(RETRY_AFTER_SECONDS),
  });
}

@Injectable()
export class JobQueueService {
  private readonly logger = new Logger(JobQueueService.name);
  private readonly errors = new LogThrottle(this.logger);
  private readonly timeoutMs: number;
  private readonly retention: Pick<JobsOptions, 'removeOnComplete' | 'removeOnFail'>;
  private readonly backoffMs: number;
  /** Jobs answered 503 whose add may still reach Redis; removed as soon as Redis answers again. */
  private readonly orphans = new Set<string>();

  constructor(
    @InjectQueue(QUEUE_NAME) private readonly queue: Queue<JobData>,
    @Inject(REDIS_PRODUCER) private readonly redis: Redis,
    config: ConfigService<Env, true>,
  ) {
    this.timeoutMs = config.get('REDIS_TIMEOUT_MS');
    this.backoffMs = config.get('JOB_BACKOFF_MS');
    this.retention = {
      removeOnComplete: { age: config.get('JOB_KEEP_COMPLETED_SECONDS'), count: config.get('JOB_KEEP_COMPLETED_COUNT') },
      removeOnFail: { age: config.get('JOB_KEEP_FAILED_SECONDS'), count: config.get('JOB_KEEP_FAILED_COUNT') },
    };
    this.redis.on('ready', () => void this.removeOrphans());
    // An EventEmitter 'error' without a listener would crash the process during a Redis outage.
    this.queue.on('error', (error) => this.errors.error(`Queue error: ${error.message}`));
  }

  /** Stores the job; throws 503 (Retry-After) when Redis cannot take it within REDIS_TIMEOUT_MS. */
  async register(data: JobData): Promise<RegisteredJob> {
    // A disconnected producer fails at once rather than waiting for a timeout.
    if (this.redis.status !== 'ready') throw queueUnavailable();

    const jobId = randomUUID();
    const delay = data.delay_seconds * 1_000;
    const adding = this.queue.add(JOB_NAME, data, {
      jobId,
      delay,
      attempts: data.max_retry + 1,
      backoff: { type: 'exponential', delay: this.backoffMs },
      ...this.retention,
    });
    try {
      const job = await withTimeout(adding, this.timeoutMs, 'storing the job');
      return {
        job_id: jobId,
        status: 'registered',
        delay_seconds: data.delay_seconds,
        max_retry: data.max_retry,
        run_at: new Date(job.timestamp + delay).toISOString(),
      };
    } catch (error) {
      // The client hears 503, so the job must not run: if the add still lands (Redis was frozen, or the
      // connection dropped after sending), take it out again.
      this.orphans.add(jobId);
      adding.then(
        () => void this.removeOrphans(),
        () => undefined,
      );
      this.errors.error(`Could not store job: ${(error as Error).message}`);
      throw queueUnavailable();
    }
  }

  private async removeOrphans(): Promise<void> {
    for (const jobId of [...this.orphans]) {
      try {
        await this.queue.remove(jobId);
        this.orphans.delete(jobId);
      } catch {
        return; // Redis is away again; the next 'ready' retries.
      }
    }
  }
}
