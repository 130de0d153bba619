// The producer: stores a job in Redis, or says clearly that it could not (and then leaves nothing behind);
// reads a job back and cancels one that has not started.
import { InjectQueue } from '@nestjs/bullmq';
import { HttpException, HttpStatus, Inject, Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { Job, JobsOptions, Queue } from 'bullmq';
import type { RedisClient } from '../../redis/redis-connection.factory';
import { randomUUID } from 'node:crypto';
import type { Principal } from '../../auth/principal';
import { withHeaders } from '../../http/http-exception.filter';
import { LogThrottle } from '../../common/log-throttle';
import { withTimeout } from '../../common/timeout';
import { JobMetrics } from '../../observability/metrics/job.metrics';
import { REDIS_PRODUCER } from '../../redis/redis.constants';
import { JOB_NAME, JobData, QUEUE_NAME } from '../job';
import type { JobViewDto, RegisteredJobDto } from './dto/job-responses.dto';
import { JobState, publicJobState, toJobView } from './job-view';
import { defineLuaScript, LuaScript } from '../lua-script';
import {
  PLACEHOLDER_TTL_MS,
  pendingJobsKey,
  RELEASE_PLACEHOLDER_LUA,
  RESERVE_LUA,
  STALE_ENTRIES_CHECKED,
} from '../tenant-quota';
import { AppConfig } from '../../config/app-config';

/** Seconds a client is told to wait before retrying while the queue is unavailable. */
export const RETRY_AFTER_SECONDS = 5;

/** What DELETE did: the job is gone for good, or why it was left alone. */
export type CancelOutcome = 'cancelled' | 'not-found' | 'running' | 'finished';

/**
 * How long the hash of a cancelled job outlives its cancellation should BullMQ's own removal (which
 * follows at once) not reach Redis; nothing can run it meanwhile, it is in no list.
 */
const CANCELLED_JOB_TTL_MS = 60_000;

/**
 * Cancels a job in one atomic step, so that no worker can take it between the check and the removal: a job of
 * another tenant is "not-found" (its existence must not leak); a locked job (a worker runs it) is refused;
 * otherwise taking it out of the delayed, prioritized, wait or paused list is the cancellation, after which no
 * worker can ever reach it, and its place in the tenant's pending set is released. BullMQ's own removal deletes
 * what is left (job.remove() alone would also delete a job that finished between a state check and the removal,
 * and answer success for it).
 *
 * KEYS: job hash, its lock, delayed, prioritized, wait, paused, completed, failed, active, the owner's pending set.
 * ARGV: job id, CANCELLED_JOB_TTL_MS, the owner the caller may see ("" for an admin: any).
 */
const CANCEL_JOB_LUA = `
local jobId = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return 'not-found' end
if ARGV[3] ~= '' then
  local ok, data = pcall(cjson.decode, redis.call('HGET', KEYS[1], 'data') or '')
  if not ok or type(data) ~= 'table' or data.owner ~= ARGV[3] then return 'not-found' end
end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'running' end
if redis.call('ZREM', KEYS[3], jobId) == 1 or redis.call('ZREM', KEYS[4], jobId) == 1
  or redis.call('LREM', KEYS[5], 1, jobId) == 1 or redis.call('LREM', KEYS[6], 1, jobId) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[10], jobId)
  return 'cancelled'
end
if redis.call('ZSCORE', KEYS[7], jobId) or redis.call('ZSCORE', KEYS[8], jobId) then return 'finished' end
-- Active without a lock: its worker died and stalled-job recovery will run it again.
if redis.call('LPOS', KEYS[9], jobId) then return 'running' end
return 'not-found'
`;

const PENDING_QUOTA_EXCEEDED = 'Pending job quota exceeded';

/** SPEC 6.3: the tenant has TENANT_MAX_PENDING_JOBS jobs that have not started; nothing was stored. */
function pendingQuotaExceeded(): HttpException {
  return new HttpException(PENDING_QUOTA_EXCEEDED, HttpStatus.TOO_MANY_REQUESTS);
}

/** An admin sees every tenant's jobs; anyone else only those their `sub` registered (SPEC 6.3). */
function canSee(principal: Principal, owner: string | undefined): boolean {
  return principal.scopes.has('admin') || (owner !== undefined && owner === principal.subject);
}

export function queueUnavailable(): ServiceUnavailableException {
  return withHeaders(new ServiceUnavailableException('Job queue is unavailable'), {
    'Retry-After': String(RETRY_AFTER_SECONDS),
  });
}

@Injectable()
export class JobsService {
  private readonly logger = new Logger(JobsService.name);
  private readonly errors = new LogThrottle(this.logger);
  private readonly timeoutMs: number;
  private readonly prefix: string;
  private readonly maxPendingJobs: number;
  private readonly retention: Pick<JobsOptions, 'removeOnComplete' | 'removeOnFail'>;
  private readonly backoffMs: number;
  /** Jobs answered 503 whose add may still reach Redis (with their owner); removed as soon as Redis answers again. */
  private readonly orphans = new Map<string, string | undefined>();
  private readonly cancelScript: LuaScript<CancelOutcome>;
  private readonly reserveScript: LuaScript<number>;
  private readonly releasePlaceholderScript: LuaScript<number>;
  private bullClient?: Awaited<Queue['client']>;

  constructor(
    @InjectQueue(QUEUE_NAME) private readonly queue: Queue<JobData>,
    @Inject(REDIS_PRODUCER) private readonly redis: RedisClient,
    config: AppConfig,
    private readonly metrics: JobMetrics,
  ) {
    this.timeoutMs = config.get('REDIS_TIMEOUT_MS');
    this.prefix = config.get('QUEUE_PREFIX');
    this.maxPendingJobs = config.get('TENANT_MAX_PENDING_JOBS');
    this.backoffMs = config.get('JOB_BACKOFF_MS');
    this.retention = {
      removeOnComplete: {
        age: config.get('JOB_KEEP_COMPLETED_SECONDS'),
        count: config.get('JOB_KEEP_COMPLETED_COUNT'),
      },
      removeOnFail: { age: config.get('JOB_KEEP_FAILED_SECONDS'), count: config.get('JOB_KEEP_FAILED_COUNT') },
    };
    this.cancelScript = defineLuaScript(this.redis, 'dmJobQueueCancel', 10, CANCEL_JOB_LUA);
    this.reserveScript = defineLuaScript(this.redis, 'dmTenantReserve', 2, RESERVE_LUA);
    this.releasePlaceholderScript = defineLuaScript(
      this.redis,
      'dmTenantReleasePlaceholder',
      1,
      RELEASE_PLACEHOLDER_LUA,
    );
    this.redis.on('ready', () => void this.removeOrphans());
    // An EventEmitter 'error' without a listener would crash the process during a Redis outage.
    this.queue.on('error', (error) => this.errors.error(`Queue error: ${error.message}`));
  }

  /**
   * Stores the job; 429 when its owner's pending quota is full (nothing stored), 503 (Retry-After) when Redis cannot
   * take it within REDIS_TIMEOUT_MS.
   */
  async register(data: JobData, jobId: string = randomUUID()): Promise<RegisteredJobDto> {
    // A disconnected producer fails at once rather than waiting for a timeout.
    if (this.redis.status !== 'ready') throw queueUnavailable();

    const delay = data.delay_seconds * 1_000;
    const job = new Job<JobData>(
      this.queue,
      JOB_NAME,
      data,
      {
        jobId,
        delay,
        attempts: data.max_retry + 1,
        backoff: { type: 'exponential', delay: this.backoffMs },
        ...this.retention,
      },
      jobId,
    );
    const adding = this.store(job);
    let added: boolean;
    try {
      added = await withTimeout(adding, this.timeoutMs, 'storing the job');
    } catch (error) {
      // The client hears 503, so the job must not run: if the add still lands (Redis was frozen, or the
      // connection dropped after sending), take it out again.
      this.orphans.set(jobId, data.owner);
      adding.then(
        () => void this.removeOrphans(),
        () => undefined,
      );
      this.errors.error(`Could not store job: ${(error as Error).message}`);
      throw queueUnavailable();
    }
    if (!added) throw pendingQuotaExceeded();
    this.metrics.registered();
    return {
      job_id: jobId,
      status: 'registered',
      delay_seconds: data.delay_seconds,
      max_retry: data.max_retry,
      run_at: new Date(job.timestamp + delay).toISOString(),
    };
  }

  /**
   * One round trip: the owner's quota place (RESERVE_LUA) and BullMQ's own add, sent one after the other on the
   * producer connection, whose auto-pipelining writes them together and in order, so Redis always runs the
   * reservation first. (A MULTI would make them one transaction, but an ioredis transaction per request costs
   * far more than auto-pipelined commands: bench/README.md.) Resolves false when the quota refused the job: the
   * add found the placeholder and stored nothing, and the placeholder is removed (it also expires on its own).
   */
  private async store(job: Job<JobData>): Promise<boolean> {
    // BullMQ's view of the producer connection; resolved once, then the add goes out in the same tick.
    const client = this.bullClient ?? (this.bullClient = await this.queue.client);
    const owner = job.data.owner;
    if (this.maxPendingJobs === 0 || owner === undefined) {
      await job.addJob(client);
      return true;
    }
    const jobKey = this.queue.toKey(job.id!);
    const reserved = this.reserveScript(
      [pendingJobsKey(this.prefix, owner), jobKey],
      [job.id!, this.maxPendingJobs, job.timestamp, this.queue.toKey(''), STALE_ENTRIES_CHECKED, PLACEHOLDER_TTL_MS],
    );
    const [place] = await Promise.all([reserved, job.addJob(client)]);
    if (place === 1) return true;
    this.releasePlaceholderScript([jobKey], []).catch(() => undefined);
    return false;
  }

  /**
   * The job as GET shows it to `principal`, or undefined when there is no such job or it belongs to another
   * tenant (the same answer, so existence does not leak); 503 when Redis cannot answer in time.
   */
  async find(jobId: string, principal: Principal): Promise<JobViewDto | undefined> {
    const found = await this.read(jobId);
    return found && canSee(principal, found.job.data.owner) ? toJobView(found.job, found.state) : undefined;
  }

  private async read(jobId: string): Promise<{ job: Job<JobData>; state: JobState } | undefined> {
    if (this.redis.status !== 'ready') throw queueUnavailable();
    let job: Job<JobData> | undefined;
    let state: string;
    try {
      // Both go out in the same write (auto-pipelining) and are answered one right after the other.
      [job, state] = await withTimeout(
        Promise.all([this.queue.getJob(jobId), this.queue.getJobState(jobId)]),
        this.timeoutMs,
        'reading the job',
      );
    } catch (error) {
      this.errors.error(`Could not read job: ${(error as Error).message}`);
      throw queueUnavailable();
    }
    const publicState = publicJobState(state);
    return job && publicState ? { job, state: publicState } : undefined;
  }

  /**
   * Cancels a job of `principal`'s (any job for an admin) that has not started (delayed, waiting, or waiting for a
   * retry). 503 when Redis cannot answer in time: the job may or may not have been cancelled then, and asking
   * again tells (404 or 204).
   */
  async cancel(jobId: string, principal: Principal): Promise<CancelOutcome> {
    if (this.redis.status !== 'ready') throw queueUnavailable();
    let owner: string | undefined = principal.subject;
    if (principal.scopes.has('admin')) {
      // The owner's pending set is a key of the script, so an admin's cancel reads the owner first (it never changes).
      const found = await this.read(jobId);
      if (!found) return 'not-found';
      owner = found.job.data.owner;
    }
    const jobKey = this.queue.toKey(jobId);
    const { keys } = this.queue;
    const cancelling = this.cancelScript(
      [
        jobKey,
        `${jobKey}:lock`,
        keys.delayed,
        keys.prioritized,
        keys.wait,
        keys.paused,
        keys.completed,
        keys.failed,
        keys.active,
        pendingJobsKey(this.prefix, owner ?? ''),
      ],
      [jobId, CANCELLED_JOB_TTL_MS, principal.scopes.has('admin') ? '' : principal.subject],
    );
    let outcome: CancelOutcome;
    try {
      outcome = await withTimeout(cancelling, this.timeoutMs, 'cancelling the job');
    } catch (error) {
      // Should the script still run (Redis was frozen), what it detached is tidied up as well.
      cancelling.then(
        (late) => late === 'cancelled' && this.discard(jobId, owner),
        () => undefined,
      );
      this.errors.error(`Could not cancel job: ${(error as Error).message}`);
      throw queueUnavailable();
    }
    if (outcome === 'cancelled') {
      // The job can no longer run; this only tidies up (hash, logs, the "removed" event), so a failure
      // here changes nothing for the client: the hash expires anyway, and 'ready' retries the removal.
      try {
        await withTimeout(this.queue.remove(jobId), this.timeoutMs, 'removing the cancelled job');
      } catch {
        this.orphans.set(jobId, owner);
      }
    }
    return outcome;
  }

  /**
   * Makes sure a stored job never runs after all (its request was answered 503): removed, and its place in its
   * owner's pending set released, now or once Redis is back.
   */
  discard(jobId: string, owner: string | undefined): void {
    this.orphans.set(jobId, owner);
    void this.removeOrphans();
  }

  private async removeOrphans(): Promise<void> {
    for (const [jobId, owner] of [...this.orphans]) {
      try {
        await this.queue.remove(jobId);
        if (owner !== undefined) await this.redis.zrem(pendingJobsKey(this.prefix, owner), jobId);
        this.orphans.delete(jobId);
      } catch {
        return; // Redis is away again; the next 'ready' retries.
      }
    }
  }
}
