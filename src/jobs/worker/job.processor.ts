// The worker: runs each job when it is due and prints its line on standard output.
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Job, UnrecoverableError, Worker } from 'bullmq';
import { closeRedisConnection, RedisClient } from '../../redis/redis-connection.factory';
import { hostname } from 'node:os';
import { LogThrottle } from '../../common/log-throttle';
import { TimeoutError, withTimeout } from '../../common/timeout';
import { JobMetrics, willRetry } from '../../observability/metrics/job.metrics';
import { REDIS_WORKER } from '../../redis/redis.constants';
import { formatJobLine } from './job-line';
import { EXPIRED_REASON, isExpired, JobData, QUEUE_NAME } from '../job';
import { OnTimeWorker } from './on-time-worker';
import {
  endedSchedulesKey,
  expiringJobsKey,
  liveSchedulesKey,
  pendingJobsKey,
  tenantIndexKey,
  tenantSchedulesKey,
} from '../tenant-keys';
import { globalIndexKey, INDEX_GRACE_MS, indexTtlAfterDueMs } from '../job-index';
import { defineLuaScript, LuaScript } from '../lua-script';
import { globalSchedulesKey, jobDueAt, occurrenceOf, SCHEDULE_GONE_REASON, scheduleKey } from '../schedule';
import { OCCURRENCE_STARTED_LUA } from '../schedule-scripts';
import { AppConfig } from '../../config/app-config';
import { inAttemptContext, traceAttempt } from '../../observability/tracing/tracing';

/** Field of a job's hash that holds when its pending retry falls due (ms), for its lateness. */
const RETRY_DUE_FIELD = 'dmRetryDueAt';

/** HSET on a job's hash that never creates one (a job removed meanwhile stays removed). KEYS: the hash. */
const SET_IF_EXISTS_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0
`;

/** The longest expiry set on an index (ten years): an exponential backoff can reach far beyond. */
const MAX_EXPIRY_MS = 10 * 365 * 86_400_000;

/**
 * Builds its BullMQ Worker at bootstrap rather than through @Processor(), which takes its options at
 * class-definition time: concurrency, lock duration and stalled interval come from configuration.
 */
@Injectable()
export class JobProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(JobProcessor.name);
  private readonly errors = new LogThrottle(this.logger);
  private bullWorker?: OnTimeWorker<JobData>;
  /** Jobs this process is running now: with every slot busy the worker does not fetch, and is not wedged. */
  private inFlight = 0;
  private readonly concurrency: number;
  private readonly fetchStallMs: number;
  private readonly prefix: string;
  /** TENANT_MAX_PENDING_JOBS is on: the tenants' pending sets are kept (and so their places released here). */
  private readonly quota: boolean;
  private readonly backoffMs: number;
  private readonly indexTtlAfterDueMs: number;
  /** How long an ended schedule's record stays readable: as long as a completed job. */
  private readonly endedScheduleTtlMs: number;
  /** Ended schedules a tenant keeps at most: as many as it may have live (TENANT_MAX_SCHEDULES; 0: no limit). */
  private readonly endedSchedulesKept: number;
  private readonly occurrenceStartedScript: LuaScript<number>;
  private readonly retryDueScript: LuaScript<number>;

  constructor(
    @Inject(REDIS_WORKER) private readonly connection: RedisClient,
    private readonly config: AppConfig,
    private readonly metrics: JobMetrics,
  ) {
    this.prefix = config.get('QUEUE_PREFIX');
    this.quota = config.get('TENANT_MAX_PENDING_JOBS') > 0;
    this.backoffMs = config.get('JOB_BACKOFF_MS');
    this.indexTtlAfterDueMs = indexTtlAfterDueMs(config);
    this.concurrency = config.get('WORKER_CONCURRENCY');
    this.fetchStallMs = config.get('WORKER_FETCH_STALL_MS');
    this.endedScheduleTtlMs = config.get('JOB_KEEP_COMPLETED_SECONDS') * 1_000;
    this.endedSchedulesKept = config.get('TENANT_MAX_SCHEDULES');
    this.retryDueScript = defineLuaScript(connection, 'dmJobRetryDue', 1, SET_IF_EXISTS_LUA);
    this.occurrenceStartedScript = defineLuaScript(connection, 'dmScheduleOccurrence', 12, OCCURRENCE_STARTED_LUA);
  }

  /** The BullMQ worker, once the application has bootstrapped. */
  get worker(): Worker<JobData> {
    if (!this.bullWorker) throw new Error('The worker starts at application bootstrap');
    return this.bullWorker;
  }

  private async run(job: Job<JobData>): Promise<void> {
    this.inFlight++;
    try {
      await traceAttempt(job, QUEUE_NAME, () => this.process(job));
    } finally {
      this.inFlight--;
    }
  }

  async process(job: Job<JobData>): Promise<void> {
    const owner = job.data.owner;
    const occurrence = job.repeatJobKey ? occurrenceOf(job.id!) : undefined;
    this.observeLateness(job, Date.now());
    if (occurrence && owner !== undefined) {
      // Its schedule was deleted, or it is due after its schedule's end_at (one the script, which also ends the
      // schedule, could not take out in time): it does not start.
      const gone = (await this.occurrenceStarted(job, occurrence, owner)) === 'gone';
      const endAt = job.opts.repeat?.endDate;
      if (gone || (endAt !== undefined && occurrence.dueAt > new Date(endAt).getTime())) {
        throw new UnrecoverableError(SCHEDULE_GONE_REASON);
      }
    }
    // Started (or dropped), so no longer pending for its tenant's quota. Not awaited: it goes out on the connection
    // BullMQ then completes the job on, ahead of that; should it be lost, the quota's own check drops it later.
    // (A schedule's occurrences take no place: the schedule does.)
    else if (this.quota && owner !== undefined) {
      this.connection.zrem(pendingJobsKey(this.prefix, owner), job.id!).catch(() => undefined);
      if (job.data.expires_at !== undefined)
        this.connection.zrem(expiringJobsKey(this.prefix, owner), job.id!).catch(() => undefined);
    }
    // Too late to start, whatever kept it: no line, no retry; BullMQ records it as failed, which the API shows as
    // expired.
    if (isExpired(job.data, Date.now())) throw new UnrecoverableError(EXPIRED_REASON);
    // One write per line: on Linux, stdout to a file or pipe is synchronous, so lines never interleave.
    process.stdout.write(`${formatJobLine(job.data.message, new Date())}\n`);
  }

  /**
   * dm_jobqueue_job_lateness_seconds for the attempt that starts at `startedAt`: a first attempt was due at its run_at
   * (an occurrence: the time its id names), a retry when its backoff ended, which the 'failed' handler wrote into the
   * job's hash (read here without delaying the job).
   */
  private observeLateness(job: Job<JobData>, startedAt: number): void {
    if (job.attemptsMade === 0) {
      this.metrics.started((startedAt - jobDueAt(job)) / 1_000);
      return;
    }
    this.connection
      .hget(this.worker.toKey(job.id!), RETRY_DUE_FIELD)
      .then((due) => due !== null && this.metrics.started((startedAt - Number(due)) / 1_000))
      .catch(() => undefined);
  }

  /**
   * A schedule's occurrence starts (BullMQ has just added the next one): both go into the job list, and the schedule
   * ends here when nothing follows (OCCURRENCE_STARTED_LUA). A failure is logged and the occurrence runs anyway: the
   * next occurrence that starts, or a stalled retake of this one, does it again.
   */
  private async occurrenceStarted(
    job: Job<JobData>,
    occurrence: { scheduleId: string; dueAt: number },
    owner: string,
  ): Promise<'gone' | undefined> {
    const { keys } = this.worker;
    const now = Date.now();
    try {
      const ended = await this.occurrenceStartedScript(
        [
          keys.repeat,
          tenantIndexKey(this.prefix, owner),
          globalIndexKey(this.prefix),
          scheduleKey(this.prefix, occurrence.scheduleId),
          liveSchedulesKey(this.prefix, owner),
          tenantSchedulesKey(this.prefix, owner),
          globalSchedulesKey(this.prefix),
          keys.delayed,
          endedSchedulesKey(this.prefix, owner),
          keys.prioritized,
          keys.wait,
          keys.paused,
        ],
        [
          this.worker.toKey(''),
          occurrence.scheduleId,
          occurrence.dueAt,
          job.id!,
          job.timestamp,
          now,
          this.indexTtlAfterDueMs,
          this.endedScheduleTtlMs,
          now - INDEX_GRACE_MS,
          this.endedSchedulesKept,
          scheduleKey(this.prefix, ''),
        ],
      );
      if (ended === 1) this.logger.log(`Schedule ${occurrence.scheduleId} ended with occurrence ${job.id}`);
      if (ended === -1) return 'gone';
    } catch (error) {
      this.errors.error(`Could not record the start of occurrence ${job.id}: ${(error as Error).message}`);
    }
    return undefined;
  }

  onApplicationBootstrap(): void {
    const lockDuration = this.config.get('WORKER_LOCK_DURATION_MS');
    this.bullWorker = new OnTimeWorker<JobData>(QUEUE_NAME, (job) => this.run(job), {
      connection: this.connection,
      prefix: this.config.get('QUEUE_PREFIX'),
      name: `${hostname()}:${process.pid}`,
      concurrency: this.concurrency,
      lockDuration,
      stalledInterval: this.config.get('WORKER_STALLED_INTERVAL_MS'),
    });
    this.bullWorker.on('error', (error) => this.errors.error(`Worker error: ${error.message}`));
    this.bullWorker.on('completed', () => this.metrics.completed());
    this.bullWorker.on('stalled', (jobId) => {
      this.metrics.stalled();
      this.logger.warn(`Job ${jobId} stalled (its worker stopped renewing its lock): taken back to run again`);
    });
    // Its lines name the attempt's trace (tracing on): BullMQ emits 'failed' once the attempt's span has ended.
    this.bullWorker.on('failed', (job, error) => inAttemptContext(job, () => this.failed(job, error)));
  }

  /** An attempt failed: counted, its retry's quota place and lateness due time recorded, and logged. */
  private failed(job: Job<JobData> | undefined, error: Error): void {
    if (error.message === SCHEDULE_GONE_REASON && error.name === 'UnrecoverableError') {
      this.logger.log(`Occurrence ${job?.id} did not start: its schedule was deleted or had ended`);
      return;
    }
    if (error.message === EXPIRED_REASON && error.name === 'UnrecoverableError') {
      this.metrics.expired();
      this.logger.log(`Job ${job?.id} expired before it started; it did not run`);
      return;
    }
    this.metrics.failedAttempt(job, error);
    // Its retry is due later: pending again until that attempt starts (or its expires_at passes).
    const owner = job?.data.owner;
    const retried = owner !== undefined && willRetry(job, error);
    // An occurrence never held a place (its schedule does).
    if (this.quota && retried && !job!.repeatJobKey) {
      this.connection.zadd(pendingJobsKey(this.prefix, owner), job!.timestamp, job!.id!).catch(() => undefined);
      const expiresAt = job!.data.expires_at;
      if (expiresAt !== undefined)
        this.connection.zadd(expiringJobsKey(this.prefix, owner), expiresAt, job!.id!).catch(() => undefined);
    }
    if (job && willRetry(job, error)) {
      // When its retry falls due, for its lateness: BullMQ's exponential backoff after this attempt.
      const retryDueAt = Date.now() + this.backoffMs * 2 ** (job.attemptsMade - 1);
      this.retryDueScript([this.worker.toKey(job.id!)], [RETRY_DUE_FIELD, retryDueAt]).catch(() => undefined);
    }
    if (retried) {
      // Its index entry lives until its retry (BullMQ's exponential backoff) is due and its retention is over.
      const backoffMs = this.backoffMs * 2 ** job!.attemptsMade;
      const ttlMs = Math.min(backoffMs + this.indexTtlAfterDueMs, MAX_EXPIRY_MS);
      this.connection.pexpire(tenantIndexKey(this.prefix, owner), ttlMs, 'GT').catch(() => undefined);
    }
    this.logger.warn(`Job ${job?.id} failed (attempt ${job?.attemptsMade}): ${error.message}`);
  }

  /**
   * Lets the active jobs finish, but gives up after SHUTDOWN_TIMEOUT_MS (stalled-job recovery reruns them),
   * then closes the worker's connection. Runs before the producer's connection closes (onApplicationShutdown).
   */
  async beforeApplicationShutdown(): Promise<void> {
    const timeoutMs = this.config.get('SHUTDOWN_TIMEOUT_MS');
    try {
      if (this.bullWorker) await withTimeout(this.bullWorker.close(), timeoutMs, 'closing the worker');
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      this.logger.warn(`${error.message}; unfinished jobs will be retried by stalled-job recovery`);
    } finally {
      await closeRedisConnection(this.connection, Math.min(1_000, timeoutMs));
    }
  }

  isRunning(): boolean {
    return this.bullWorker?.isRunning() === true && !this.bullWorker.closing;
  }

  /**
   * How long (ms) the running worker's fetch loop has shown no sign of life while it had a free slot, or 0 when it is
   * fetching as it should (or every slot is busy): more than WORKER_FETCH_STALL_MS means it is wedged.
   */
  fetchStalledForMs(now: number = Date.now()): number {
    if (!this.bullWorker || this.inFlight >= this.concurrency) return 0;
    const silent = now - this.bullWorker.lastFetchActivityAt;
    return silent > this.fetchStallMs ? silent : 0;
  }
}
