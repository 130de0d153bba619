// The producer: stores a job in Redis, or says clearly that it could not (and then leaves nothing behind);
// reads a job back and cancels one that has not started.
import { InjectQueue } from '@nestjs/bullmq';
import { HttpException, HttpStatus, Inject, Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { Job, JobJsonRaw, Queue } from 'bullmq';
import type { RedisClient } from '../../redis/redis-connection.factory';
import { randomUUID } from 'node:crypto';
import type { Principal } from '../../auth/principal';
import { withHeaders } from '../../http/http-exception.filter';
import { LogThrottle } from '../../common/log-throttle';
import { withTimeout } from '../../common/timeout';
import { JobMetrics } from '../../observability/metrics/job.metrics';
import { REDIS_PRODUCER } from '../../redis/redis.constants';
import { EXPIRED_REASON, JOB_NAME, JobData, jobDataFor, jobOptions, JobRequest, QUEUE_NAME, scheduledAt } from '../job';
import type { JobListDto, JobViewDto, RegisteredBatchDto, RegisteredJobDto } from './dto/job-responses.dto';
import {
  encodeCursor,
  JobState,
  ListCursor,
  QueueState,
  publicJobState,
  registeredAnswer,
  toJobView,
} from './job-view';
import { CANCEL_JOB_LUA, CANCELLED_JOB_TTL_MS, JobChangeOutcome, MOVE_JOB_LUA } from './job-scripts';
import { defineLuaScript, LuaScript } from '../lua-script';
import { registerLua, RELEASE_PLACEHOLDER_LUA } from '../tenant-quota';
import { expiringJobsKey, pendingJobsKey, tenantIndexKey } from '../tenant-keys';
import { globalIndexKey, INDEX_GRACE_MS, indexTtlAfterDueMs, LIST_JOBS_LUA, LIST_SCAN_BUDGET } from '../job-index';
import type { Schedule } from './job-spec';
import { currentTraceMetadata } from '../../observability/tracing/tracing';
import { AppConfig } from '../../config/app-config';

/** Seconds a client is told to wait before retrying while the queue is unavailable. */
export const RETRY_AFTER_SECONDS = 5;

/** What DELETE did: the job is gone for good, or why it was left alone. */
export type CancelOutcome = 'cancelled' | JobChangeOutcome;

/** What PATCH did: the job's view once moved, or why it was left alone. */
export type MoveOutcome = JobViewDto | 'after-expiry' | JobChangeOutcome;

/** A PATCH body after validation: the new due time, from now or as an instant (epoch ms). */
export type RescheduleRequest = Schedule;

/** A list request after validation. */
export interface ListQuery {
  state?: JobState;
  limit: number;
  cursor?: ListCursor;
  /** An admin's owner filter; ignored for anyone else, who sees only their own jobs. */
  owner?: string;
}

/** LIST_JOBS_LUA's reply: the next cursor position (Lua's false arrives as null), then [id, queue state, hash] per job. */
type ListReply = [string | null, string | null, ...[string, QueueState, string[]][]];

/** A job's stored data, or undefined for a value this service did not write. */
function parseJobData(raw: string): JobData | undefined {
  try {
    const data: unknown = JSON.parse(raw);
    return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as JobData) : undefined;
  } catch {
    return undefined;
  }
}

/** The owner a job-changing script lets the caller see: "" for an admin (any). */
const visibleOwner = (principal: Principal): string => (principal.scopes.has('admin') ? '' : principal.subject);

/** What storing jobs came to: stored, refused by the quota (nothing stored), or refused after an add had run. */
type StoreOutcome = 'stored' | 'refused' | 'refused-after-add';

/** The Redis command (a Lua script) that reserves quota places and index entries for new jobs. */
const REGISTER_COMMAND = 'dmJobQueueRegister';

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
  /** Backoff and retention, the same for every job. */
  private readonly jobOptions: ReturnType<typeof jobOptions>;
  /** How long a tenant's index must outlive a job's due time: its retention, and a day more. */
  private readonly indexTtlAfterDueMs: number;
  /** `<prefix>:<queue>:`, what a job id follows in its key. */
  private readonly jobKeyPrefix: string;
  /** Jobs answered 503 whose add may still reach Redis (with their owner); removed as soon as Redis answers again. */
  private readonly orphans = new Map<string, string | undefined>();
  /** Orphans whose removal is on its way to Redis. */
  private readonly removing = new Set<string>();
  private readonly cancelScript: LuaScript<CancelOutcome>;
  private readonly moveScript: LuaScript<'moved' | 'after-expiry' | 'changed' | JobChangeOutcome>;
  private readonly listScript: LuaScript<ListReply>;
  private readonly registerScript: LuaScript<number>;
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
    this.indexTtlAfterDueMs = indexTtlAfterDueMs(config);
    // A job registered now is due JOB_MAX_DELAY_SECONDS ahead at the latest.
    const indexTtl = config.get('JOB_MAX_DELAY_SECONDS') * 1_000 + this.indexTtlAfterDueMs;
    this.jobOptions = jobOptions(config);
    this.cancelScript = defineLuaScript(this.redis, 'dmJobQueueCancel', 13, CANCEL_JOB_LUA);
    this.moveScript = defineLuaScript(this.redis, 'dmJobQueueMove', 11, MOVE_JOB_LUA);
    this.listScript = defineLuaScript(this.redis, 'dmJobQueueList', 5, LIST_JOBS_LUA);
    this.registerScript = defineLuaScript(
      this.redis,
      REGISTER_COMMAND,
      undefined,
      registerLua({ maxPendingJobs: config.get('TENANT_MAX_PENDING_JOBS'), indexTtlMs: indexTtl }),
    );
    this.jobKeyPrefix = this.queue.toKey('');
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
  async register(request: JobRequest, owner: string, jobId: string = randomUUID()): Promise<RegisteredJobDto> {
    const [job] = await this.add([request], owner, [jobId], this.timeoutMs, Date.now());
    return job;
  }

  /**
   * Stores every job of the batch or none (one Redis transaction); 429 when they would take the owner's pending
   * quota over its limit, 503 as register, with more time: REDIS_TIMEOUT_MS plus 2 ms per job.
   */
  async registerBatch(
    requests: JobRequest[],
    owner: string,
    jobIds: string[] = requests.map(() => randomUUID()),
    now: number = Date.now(),
  ): Promise<RegisteredBatchDto> {
    return { jobs: await this.add(requests, owner, jobIds, this.timeoutMs + 2 * requests.length, now) };
  }

  private async add(
    requests: JobRequest[],
    owner: string,
    jobIds: string[],
    timeoutMs: number,
    now: number,
  ): Promise<RegisteredJobDto[]> {
    // A disconnected producer fails at once rather than waiting for a timeout.
    if (this.redis.status !== 'ready') throw queueUnavailable();
    // Every job of the request carries its trace, for the spans of its attempts.
    const traceMetadata = currentTraceMetadata();
    const jobs = requests.map((request, index) => this.newJob(request, owner, jobIds[index], now, traceMetadata));
    const adding = this.store(jobs, owner);
    let stored: StoreOutcome;
    try {
      stored = await withTimeout(adding, timeoutMs, jobs.length === 1 ? 'storing the job' : 'storing the batch');
    } catch (error) {
      // The client hears 503, so the jobs must not run: whatever of them Redis took (it was frozen, the connection
      // dropped after sending, or one command of several failed) is taken out again, as soon as Redis answers.
      for (const jobId of jobIds) this.orphans.set(jobId, owner);
      const sweep = () => void this.removeOrphans();
      adding.then(sweep, sweep);
      this.errors.error(`Could not store ${jobs.length === 1 ? 'job' : 'batch'}: ${(error as Error).message}`);
      throw queueUnavailable();
    }
    if (stored === 'refused-after-add') {
      // The quota refused them after an add had already run: that job goes, as the client hears 429.
      for (const jobId of jobIds) this.discard(jobId, owner);
    }
    if (stored !== 'stored') throw pendingQuotaExceeded();
    this.metrics.registered(jobs.length);
    return jobs.map((job) => registeredAnswer(job.id!, job.data));
  }

  /**
   * The BullMQ job for `request`, registered at `now`: its effective schedule is what Redis stores, with the trace
   * context of its registration when there is one (BullMQ's `telemetry.metadata`).
   */
  private newJob(
    request: JobRequest,
    owner: string,
    jobId: string,
    now: number,
    traceMetadata: string | undefined,
  ): Job<JobData> {
    const data = jobDataFor(request, owner, now);
    const due = data.run_at!;
    return new Job<JobData>(
      this.queue,
      JOB_NAME,
      data,
      {
        jobId,
        timestamp: now,
        delay: due - now,
        attempts: data.max_retry + 1,
        ...this.jobOptions,
        ...(traceMetadata !== undefined && { telemetry: { metadata: traceMetadata } }),
      },
      jobId,
    );
  }

  /**
   * One round trip: the owner's quota places and index entries (REGISTER_LUA), then BullMQ's own adds. A single job
   * goes out on the producer connection, whose auto-pipelining writes both together and in order, so Redis always
   * runs the reservation first. (A MULTI would make them one transaction, but an ioredis transaction per request
   * costs far more than auto-pipelined commands: bench/README.md.) A batch is one MULTI, so that Redis stores all of
   * it or none. Resolves 'refused' when the quota refused the jobs: the adds found the placeholders and stored
   * nothing, and the placeholders are removed (they also expire on their own).
   */
  private async store(jobs: Job<JobData>[], owner: string): Promise<StoreOutcome> {
    // BullMQ's view of the producer connection; resolved once, then the adds go out in the same tick.
    const client = this.bullClient ?? (this.bullClient = await this.queue.client);
    const jobKeys = jobs.map((job) => this.queue.toKey(job.id!));
    const keys = [
      pendingJobsKey(this.prefix, owner),
      expiringJobsKey(this.prefix, owner),
      tenantIndexKey(this.prefix, owner),
      globalIndexKey(this.prefix),
      ...jobKeys,
    ];
    const args: (string | number)[] = [this.jobKeyPrefix, jobs[0].timestamp];
    for (const job of jobs) args.push(job.id!, job.data.expires_at ?? 0);
    let place: number;
    if (jobs.length === 1) {
      const [reserved] = await Promise.all([this.registerScript(keys, args), jobs[0].addJob(client)]);
      place = reserved;
    } else {
      // BullMQ queues its adds on a transaction as on a client (its own addBulk does the same with a pipeline).
      const transaction = client.multi();
      transaction.runCommand(REGISTER_COMMAND, [keys.length, ...keys, ...args]);
      for (const job of jobs) void job.addJob(transaction);
      const results = (await transaction.exec()) as [Error | null, unknown][] | null;
      // null: the transaction was discarded (nothing stored). A command that failed inside it (Redis runs the
      // others: a transaction is not rolled back) fails the batch; the caller then removes whatever was stored.
      if (results === null) throw new Error('the transaction was aborted');
      for (const [error] of results) if (error) throw error;
      place = results[0][1] as number;
    }
    if (place === 1) return 'stored';
    for (const jobKey of jobKeys) this.releasePlaceholderScript([jobKey], []).catch(() => undefined);
    return place === 2 ? 'refused-after-add' : 'refused';
  }

  /**
   * The job as GET shows it to `principal`, or undefined when there is no such job or it belongs to another
   * tenant (the same answer, so existence does not leak); 503 when Redis cannot answer in time.
   */
  async find(jobId: string, principal: Principal): Promise<JobViewDto | undefined> {
    const found = await this.read(jobId);
    return found && canSee(principal, found.job.data.owner) ? toJobView(found.job, found.state, Date.now()) : undefined;
  }

  private async read(jobId: string): Promise<{ job: Job<JobData>; state: QueueState } | undefined> {
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
    const owner = await this.ownerFor(jobId, principal);
    if (owner === null) return 'not-found';
    const cancelling = this.cancelScript(
      [
        ...this.changeKeys(jobId),
        pendingJobsKey(this.prefix, owner ?? ''),
        expiringJobsKey(this.prefix, owner ?? ''),
        tenantIndexKey(this.prefix, owner ?? ''),
        globalIndexKey(this.prefix),
      ],
      [jobId, visibleOwner(principal), Date.now(), CANCELLED_JOB_TTL_MS],
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
   * Moves a job of `principal`'s (any job for an admin) that has not started to `request`'s due time, and answers
   * its view; 503 when Redis cannot answer in time (asking GET tells whether it moved).
   */
  async move(jobId: string, principal: Principal, request: RescheduleRequest): Promise<MoveOutcome> {
    if (this.redis.status !== 'ready') throw queueUnavailable();
    // The new data is written as read here, changed here (JSON.stringify keeps every number exact; the script's cjson
    // would round them to 14 digits), and set by the script only if nobody changed it meanwhile.
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.moveOnce(jobId, principal, request);
      if (outcome !== 'changed') return outcome;
      if (attempt === 2) return 'running'; // moved by others three times over: say it is busy, as a lock would
    }
  }

  private async moveOnce(
    jobId: string,
    principal: Principal,
    request: RescheduleRequest,
  ): Promise<MoveOutcome | 'changed'> {
    let outcome: 'moved' | 'after-expiry' | 'changed' | JobChangeOutcome;
    try {
      const raw = await withTimeout(
        this.redis.hget(this.queue.toKey(jobId), 'data'),
        this.timeoutMs,
        'reading the job',
      );
      const data = raw === null ? undefined : parseJobData(raw);
      if (data === undefined || !canSee(principal, data.owner)) return 'not-found';
      const now = Date.now();
      const { due, delay_seconds } = scheduledAt(request, now);
      const moved = JSON.stringify({ ...data, delay_seconds, run_at: due });
      outcome = await withTimeout(
        this.moveScript(
          [...this.changeKeys(jobId), this.queue.keys.marker, tenantIndexKey(this.prefix, data.owner ?? '')],
          [jobId, visibleOwner(principal), now, due, raw!, moved, due - now + this.indexTtlAfterDueMs],
        ),
        this.timeoutMs,
        'moving the job',
      );
    } catch (error) {
      this.errors.error(`Could not move job: ${(error as Error).message}`);
      throw queueUnavailable();
    }
    if (outcome !== 'moved') return outcome;
    // Read after the move: a worker may already have taken it, and the view says so.
    return (await this.find(jobId, principal)) ?? 'not-found';
  }

  /** KEYS the job-changing scripts start with (CHECKS_LUA). */
  private changeKeys(jobId: string): string[] {
    const jobKey = this.queue.toKey(jobId);
    const { keys } = this.queue;
    return [
      jobKey,
      `${jobKey}:lock`,
      keys.delayed,
      keys.prioritized,
      keys.wait,
      keys.paused,
      keys.completed,
      keys.failed,
      keys.active,
    ];
  }

  /**
   * The owner's pending set and index are keys of the cancel script, so an admin's cancel reads the owner first (it
   * never changes); null when there is no such job for `principal`.
   */
  private async ownerFor(jobId: string, principal: Principal): Promise<string | undefined | null> {
    if (this.redis.status !== 'ready') throw queueUnavailable();
    if (!principal.scopes.has('admin')) return principal.subject;
    const found = await this.read(jobId);
    return found ? found.job.data.owner : null;
  }

  /**
   * One page of the jobs `principal` may see, newest first: an admin's every tenant's (or `owner`'s), anyone
   * else's their own. 503 when Redis cannot answer in time.
   */
  async list(principal: Principal, query: ListQuery): Promise<JobListDto> {
    if (this.redis.status !== 'ready') throw queueUnavailable();
    const owner = principal.scopes.has('admin') ? query.owner : principal.subject;
    const index = owner === undefined ? globalIndexKey(this.prefix) : tenantIndexKey(this.prefix, owner);
    const { keys } = this.queue;
    const now = Date.now();
    let reply: ListReply;
    try {
      reply = await withTimeout(
        this.listScript(
          [index, keys.completed, keys.failed, keys.delayed, keys.active],
          [
            query.limit,
            query.cursor?.score ?? '',
            query.cursor?.id ?? '',
            query.state ?? '',
            LIST_SCAN_BUDGET,
            now,
            this.queue.toKey(''),
            EXPIRED_REASON,
            now - INDEX_GRACE_MS,
          ],
        ),
        this.timeoutMs,
        'listing jobs',
      );
    } catch (error) {
      this.errors.error(`Could not list jobs: ${(error as Error).message}`);
      throw queueUnavailable();
    }
    const [nextScore, nextId, ...entries] = reply;
    const jobs: JobViewDto[] = [];
    for (const [id, state, hash] of entries) {
      const raw: Record<string, string> = {};
      for (let i = 0; i < hash.length; i += 2) raw[hash[i]] = hash[i + 1];
      const job = Job.fromJSON<JobData>(this.queue, raw as unknown as JobJsonRaw, id);
      // A tenant's index holds only its jobs; checked anyway, as every read of a job is.
      if (owner === undefined || job.data.owner === owner) jobs.push(toJobView(job, state, now));
    }
    const next_cursor = nextScore && nextId ? encodeCursor({ score: nextScore, id: nextId }) : null;
    return { jobs, next_cursor };
  }

  /**
   * Makes sure a stored job never runs after all (its request was answered 503): removed, and its place in its
   * owner's pending set released, now or once Redis is back.
   */
  discard(jobId: string, owner: string | undefined): void {
    this.orphans.set(jobId, owner);
    void this.removeOrphans();
  }

  /**
   * All at once: the removals go out together on the auto-pipelined producer, so that a whole batch answered 503 is
   * gone within a round trip or two of Redis answering again, before its jobs fall due. (One after the other, a
   * batch of hundreds took long enough for its first jobs to run.) Each job is on its own: one that cannot be removed
   * (Redis is away again, or a worker holds it) stays for the next 'ready' and does not keep the others.
   */
  private async removeOrphans(): Promise<void> {
    await Promise.all([...this.orphans].map(([jobId, owner]) => this.removeOrphan(jobId, owner)));
  }

  private async removeOrphan(jobId: string, owner: string | undefined): Promise<void> {
    // Sweeps overlap ('ready', a late add, discard() for each job of a batch): each job is sent once at a time.
    if (this.removing.has(jobId)) return;
    this.removing.add(jobId);
    try {
      // 0: no such job (its add never landed: the entries below are all that is left), or a worker holds it (it
      // runs after all, the documented gap of a frozen Redis): then it keeps its entries and is shown as it is.
      if ((await this.queue.remove(jobId)) === 0 && (await this.queue.getJobState(jobId)) !== 'unknown') {
        this.orphans.delete(jobId);
        return;
      }
      const owned = owner === undefined ? [] : [pendingJobsKey, expiringJobsKey, tenantIndexKey];
      await Promise.all(
        [...owned.map((key) => key(this.prefix, owner!)), globalIndexKey(this.prefix)].map((key) =>
          this.redis.zrem(key, jobId),
        ),
      );
      this.orphans.delete(jobId);
    } catch {
      // Left for the next 'ready'.
    } finally {
      this.removing.delete(jobId);
    }
  }
}
