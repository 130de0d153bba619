// Queue depth per state, the oldest waiting job's age and the memory of the Redis that holds the queue, read from
// Redis when Prometheus scrapes (never on a timer, never on a request), at most once a second however many scrapers
// there are.
import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { Gauge, Registry } from 'prom-client';
import { withTimeout } from '../../common/timeout';
import { type JobData, QUEUE_NAME } from '../../jobs/job';
import { jobDueAt } from '../../jobs/schedule';
import { METRICS_REGISTRY } from './metrics.registry';
import { AppConfig } from '../../config/app-config';
import { defineLuaScript, LuaScript } from '../../jobs/lua-script';
import type { RedisClient } from '../../redis/redis-connection.factory';
import { REDIS_PRODUCER } from '../../redis/redis.constants';

export const QUEUE_STATES = ['waiting', 'delayed', 'active', 'completed', 'failed'] as const;

/** What the gauges need of a BullMQ queue: the counts per state, and the oldest waiting job. */
export type JobCounter = Pick<Queue, 'getJobCounts' | 'getWaiting'>;

/** How long one read of Redis serves the scrapes that follow it. */
export const QUEUE_READ_CACHE_MS = 1_000;

/** What the Redis (in a cluster: the node) that holds the queue says of its memory, in bytes. */
export interface RedisMemoryReading {
  used: number;
  /** Its `maxmemory`; 0 when it has no limit. */
  max: number;
}

/**
 * INFO memory, from a script keyed on the queue (its meta key, which the script only names): in a cluster Redis runs
 * it on the node that owns the queue's hash-tag slot, the node whose memory the queue fills.
 */
const MEMORY_LUA = `
local info = redis.call('INFO', 'memory')
return { tonumber(string.match(info, 'used_memory:(%d+)')) or -1, tonumber(string.match(info, 'maxmemory:(%d+)')) or 0 }
`;

@Injectable()
export class RedisMemory {
  private readonly script: LuaScript<[number, number]>;
  private readonly key: string;

  constructor(@Inject(REDIS_PRODUCER) redis: RedisClient, config: AppConfig) {
    this.script = defineLuaScript(redis, 'dmRedisMemory', 1, MEMORY_LUA);
    this.key = `${config.get('QUEUE_PREFIX')}:${QUEUE_NAME}:meta`;
  }

  async read(): Promise<RedisMemoryReading> {
    const [used, max] = await this.script([this.key], []);
    if (used < 0) throw new Error('INFO memory has no used_memory');
    return { used, max };
  }
}

/** The reading's memory, or a throw that empties the memory gauge (collect() catches it). */
function memoryOf(reading: QueueReading): RedisMemoryReading {
  if (reading.memory === undefined) throw new Error('INFO memory was not read');
  return reading.memory;
}

interface QueueReading {
  counts: Record<string, number>;
  /** Seconds the oldest waiting job has waited since it was due; 0 when none waits. */
  oldestWaitingSeconds: number;
  /** Undefined when INFO could not be read (the queue could): only the memory gauges go. */
  memory?: RedisMemoryReading;
}

@Injectable()
export class QueueMetrics {
  private readonly logger = new Logger(QueueMetrics.name);
  private readonly timeoutMs: number;
  private reading?: { at: number; value: Promise<QueueReading> };

  constructor(
    @Inject(METRICS_REGISTRY) registry: Registry,
    config: AppConfig,
    @InjectQueue(QUEUE_NAME) private readonly queue: JobCounter,
    @Inject(RedisMemory) private readonly memory: Pick<RedisMemory, 'read'>,
  ) {
    this.timeoutMs = config.get('REDIS_TIMEOUT_MS');
    const depth: Gauge<'state'> = new Gauge({
      name: 'dm_jobqueue_queue_jobs',
      help: 'Jobs in the queue per state (all processes), read from Redis at scrape time; absent when Redis did not answer.',
      labelNames: ['state'],
      registers: [registry],
      collect: () =>
        this.collect(depth, (gauge, reading) => {
          for (const state of QUEUE_STATES) gauge.set({ state }, reading.counts[state] ?? 0);
        }),
    });
    // Labelled by queue: prom-client gives a gauge without labels a 0 sample even when reset, which would read as
    // "none waits" while Redis does not answer.
    const perQueue = (name: string, help: string, value: (reading: QueueReading) => number): void => {
      const gauge: Gauge<'queue'> = new Gauge({
        name,
        help,
        labelNames: ['queue'],
        registers: [registry],
        collect: () => this.collect(gauge, (each, reading) => each.set({ queue: QUEUE_NAME }, value(reading))),
      });
    };
    perQueue(
      'dm_jobqueue_oldest_waiting_job_age_seconds',
      'How long the oldest job that is due and waiting for a worker has waited (all processes), 0 when none waits; absent when Redis did not answer.',
      (reading) => reading.oldestWaitingSeconds,
    );
    perQueue(
      'dm_jobqueue_redis_memory_used_bytes',
      "Memory the Redis that holds the queue uses (INFO memory used_memory; in a cluster, the node of the queue's slot); absent when Redis did not answer.",
      (reading) => memoryOf(reading).used,
    );
    perQueue(
      'dm_jobqueue_redis_memory_max_bytes',
      'The maxmemory of the Redis that holds the queue, 0 when it has no limit; absent when Redis did not answer.',
      (reading) => memoryOf(reading).max,
    );
  }

  /**
   * Bounded by REDIS_TIMEOUT_MS, so a scrape never hangs on a frozen Redis. When Redis does not answer the gauge is
   * emptied rather than left stale, and the other metrics are still served.
   */
  async collect<G extends Gauge<string>>(gauge: G, fill: (gauge: G, reading: QueueReading) => void): Promise<void> {
    try {
      fill(gauge, await this.read());
    } catch (error) {
      gauge.reset();
      this.logger.debug(`Queue metrics unavailable: ${(error as Error).message}`);
    }
  }

  private read(): Promise<QueueReading> {
    const now = Date.now();
    if (this.reading && now - this.reading.at < QUEUE_READ_CACHE_MS) return this.reading.value;
    // The memory is read beside the queue, not with it: a Redis that answers the queue but not INFO in a script (a
    // compatible server that restricts it) still has its depth reported.
    const memory = withTimeout(this.memory.read(), this.timeoutMs, 'reading INFO memory').catch((error: Error) => {
      this.logger.debug(`Redis memory unavailable: ${error.message}`);
      return undefined;
    });
    const value = withTimeout(
      Promise.all([this.queue.getJobCounts(...QUEUE_STATES), this.queue.getWaiting(0, 0), memory]),
      this.timeoutMs,
      'reading the queue',
    ).then(([counts, [oldest], memoryReading]) => ({
      counts,
      oldestWaitingSeconds: oldest ? Math.max(0, (Date.now() - jobDueAt(oldest as Job<JobData>)) / 1_000) : 0,
      memory: memoryReading,
    }));
    this.reading = { at: now, value };
    // A failed read is not kept: the next scrape asks again.
    value.catch(() => {
      if (this.reading?.value === value) this.reading = undefined;
    });
    return value;
  }
}
