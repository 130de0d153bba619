// Idempotency-Key on register (SPEC 6.1): one job per token subject and key within 24 h, however many
// times, and however concurrently, the request is repeated.
import { ConflictException, Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { LogThrottle } from '../../common/log-throttle';
import { withTimeout } from '../../common/timeout';
import type { RedisClient } from '../../redis/redis-connection.factory';
import { REDIS_PRODUCER } from '../../redis/redis.constants';
import {
  decodeRecord,
  encodeRecord,
  IDEMPOTENCY_TTL_MS,
  idempotencyRedisKey,
  IdempotencyRecord,
  batchFingerprint,
  batchJobIds,
  requestFingerprint,
  scheduleFingerprint,
} from './idempotency';
import { jobDataFor, type JobRequest } from '../job';
import { registeredAnswer } from './job-view';
import type { RegisteredBatchDto, RegisteredJobDto } from './dto/job-responses.dto';
import { JobsService, queueUnavailable } from './jobs.service';
import type { ScheduleRequest } from '../schedule';
import type { ScheduleViewDto } from './dto/schedule-responses.dto';
import { SchedulesService } from './schedules.service';
import { defineLuaScript, LuaScript } from '../lua-script';
import { AppConfig } from '../../config/app-config';

export interface IdempotentResult<T> {
  answer: T;
  /** true when an earlier request with the same key stored the jobs (answered 200 rather than 201). */
  replayed: boolean;
}

// SET NX that also says what was there: nil when the key is now ours, else the value that holds it.
const CLAIM_LUA = `
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`;
// Replaces our pending record with the finished one, only if it is still ours.
const COMPLETE_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`;
// Deletes the key only if it still holds one of our values: never another request's record.
const RELEASE_LUA = `
local current = redis.call('GET', KEYS[1])
for i = 1, #ARGV do
  if current == ARGV[i] then return redis.call('DEL', KEYS[1]) end
end
return 0
`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const keyReusedWithAnotherRequest = (): ConflictException =>
  new ConflictException('Idempotency-Key was already used with a different request');
export const keyInProgress = (): ConflictException =>
  new ConflictException('A request with this Idempotency-Key is still in progress');

/**
 * The first request with a key claims it atomically with a "pending" record (fingerprint and the job id
 * it is about to store, short expiry), stores the job, then turns the record into a finished one kept
 * 24 h. A repeat that finds a finished record answers with its job; one that finds a pending record waits
 * for it (at most REDIS_TIMEOUT_MS), and claims the key itself when the first request gave it up. A
 * different request under the same key is refused, pending or not. Redis holds only hashes and the job id.
 */
@Injectable()
export class IdempotencyService {
  private readonly logger = new Logger(IdempotencyService.name);
  private readonly errors = new LogThrottle(this.logger);
  private readonly prefix: string;
  private readonly timeoutMs: number;
  /**
   * Expiry of a pending record: well beyond the longest a first request can take (its add and its
   * completion each time out after REDIS_TIMEOUT_MS), so it only matters when that process died meanwhile.
   */
  private readonly pendingTtlMs: number;
  private readonly claim: LuaScript<string | null>;
  private readonly complete: LuaScript<number>;
  private readonly releaseScript: LuaScript<number>;
  /** Keys to give up that Redis has not confirmed yet; sent again when the connection is ready again. */
  private readonly unreleased = new Set<Release>();

  constructor(
    @Inject(REDIS_PRODUCER) private readonly redis: RedisClient,
    private readonly jobs: JobsService,
    private readonly schedules: SchedulesService,
    config: AppConfig,
  ) {
    this.prefix = config.get('QUEUE_PREFIX');
    this.timeoutMs = config.get('REDIS_TIMEOUT_MS');
    this.pendingTtlMs = Math.max(10_000, 4 * this.timeoutMs);
    this.claim = defineLuaScript(redis, 'dmIdempotencyClaim', 1, CLAIM_LUA);
    this.complete = defineLuaScript(redis, 'dmIdempotencyComplete', 1, COMPLETE_LUA);
    this.releaseScript = defineLuaScript(redis, 'dmIdempotencyRelease', 1, RELEASE_LUA);
    this.redis.on('ready', () => this.releasePending());
  }

  /** Registers `request` unless `key` was already used by `subject`; 409 for another request, 503 as register. */
  register(subject: string, key: string, request: JobRequest): Promise<IdempotentResult<RegisteredJobDto>> {
    return this.once(
      subject,
      key,
      requestFingerprint(request),
      () => {
        const jobId = randomUUID();
        return {
          jobIds: [jobId],
          store: () => this.jobs.register(request, subject, jobId),
          kept: (job) => job,
          finishedAt: (job) => job.run_at,
          discard: () => this.jobs.discard(jobId, subject),
        };
      },
      (record) =>
        // A record written before answers were kept: the same request, so the same fields (delay_seconds was given).
        (record.answer as RegisteredJobDto | undefined) ?? {
          job_id: record.job_id,
          status: 'registered',
          delay_seconds: request.delay_seconds!,
          max_retry: request.max_retry,
          run_at: record.run_at!,
          expires_at: null,
        },
    );
  }

  /**
   * Registers the batch unless `key` was already used by `subject`: the whole batch is replayed as one answer. Its
   * record keeps the seed of its job ids and its registration time, from which the answer is rebuilt.
   */
  registerBatch(subject: string, key: string, requests: JobRequest[]): Promise<IdempotentResult<RegisteredBatchDto>> {
    const answerOf = (seed: string, registeredAt: number): RegisteredBatchDto => {
      const jobIds = batchJobIds(seed, requests.length);
      return {
        jobs: requests.map((request, i) => registeredAnswer(jobIds[i], jobDataFor(request, subject, registeredAt))),
      };
    };
    return this.once(
      subject,
      key,
      batchFingerprint(requests),
      () => {
        const seed = randomUUID();
        const registeredAt = Date.now();
        const jobIds = batchJobIds(seed, requests.length);
        return {
          jobIds,
          store: () => this.jobs.registerBatch(requests, subject, jobIds, registeredAt),
          kept: (): BatchRecord => ({ seed, registered_at: registeredAt }),
          finishedAt: (batch) => batch.jobs[0].run_at,
          discard: () => jobIds.forEach((jobId) => this.jobs.discard(jobId, subject)),
        };
      },
      (record) => {
        const kept = record.answer as Partial<BatchRecord> | undefined;
        if (typeof kept?.seed !== 'string' || typeof kept.registered_at !== 'number')
          throw keyReusedWithAnotherRequest();
        return answerOf(kept.seed, kept.registered_at);
      },
    );
  }

  /**
   * Creates the schedule unless `key` was already used by `subject`; a repeat answers the schedule as it was created.
   */
  createSchedule(subject: string, key: string, request: ScheduleRequest): Promise<IdempotentResult<ScheduleViewDto>> {
    return this.once(
      subject,
      key,
      scheduleFingerprint(request),
      () => {
        const scheduleId = randomUUID();
        return {
          jobIds: [scheduleId],
          store: () => this.schedules.create(request, subject, scheduleId),
          kept: (schedule) => schedule,
          finishedAt: (schedule) => schedule.created_at,
          discard: () => this.schedules.discard(scheduleId, subject),
        };
      },
      (record) => {
        const kept = record.answer as ScheduleViewDto | undefined;
        if (typeof kept?.schedule_id !== 'string') throw keyReusedWithAnotherRequest();
        return kept;
      },
    );
  }

  /**
   * Runs a registration once for `subject` and `key`, or replays what it answered. Each attempt `prepare`s its job
   * ids, how to store them, and what of the answer the record keeps (with the answer's first run_at, which marks the
   * record finished); `replay` answers from a finished record.
   */
  private async once<T>(
    subject: string,
    key: string,
    fingerprint: string,
    prepare: () => Attempt<T>,
    replay: (record: IdempotencyRecord) => T,
  ): Promise<IdempotentResult<T>> {
    if (this.redis.status !== 'ready') throw queueUnavailable();
    const redisKey = idempotencyRedisKey(this.prefix, subject, key);
    const deadline = Date.now() + this.timeoutMs;

    // Ends: each turn stores the jobs, answers from the record, throws, or saw the key given up after waiting.
    for (;;) {
      const attempt = prepare();
      const pending = encodeRecord({ fingerprint, job_id: attempt.jobIds[0] });
      let held: string | null;
      try {
        held = await this.call(this.claim([redisKey], [pending, this.pendingTtlMs]), 'claiming the Idempotency-Key');
      } catch (error) {
        // A claim that timed out may still land (a frozen Redis): take it back, so a retry is not kept waiting.
        this.release(redisKey, [pending]);
        throw error;
      }
      if (held === null) {
        const answer = await this.storeClaimed(redisKey, pending, fingerprint, attempt);
        return { answer, replayed: false };
      }
      const record = await this.settled(redisKey, held, fingerprint, deadline);
      // Undefined: the first request gave the key up (it could not store its jobs); try to claim it again.
      if (record) return { answer: replay(record), replayed: true };
    }
  }

  private async storeClaimed<T>(
    redisKey: string,
    pending: string,
    fingerprint: string,
    attempt: Attempt<T>,
  ): Promise<T> {
    const { jobIds } = attempt;
    let answer: T;
    try {
      answer = await attempt.store();
    } catch (error) {
      // Not stored (503, 429): give the key up, so a retry of this request can store its jobs.
      this.release(redisKey, [pending]);
      throw error;
    }
    const finished = encodeRecord({
      fingerprint,
      job_id: jobIds[0],
      run_at: attempt.finishedAt(answer),
      answer: attempt.kept(answer),
    });
    let completed = false;
    try {
      const reply = await withTimeout(
        this.complete([redisKey], [pending, finished, IDEMPOTENCY_TTL_MS]),
        this.timeoutMs,
        'recording the Idempotency-Key',
      );
      completed = reply === 1;
    } catch (error) {
      this.errors.error(`Could not record Idempotency-Key: ${(error as Error).message}`);
    }
    if (!completed) {
      // A 201 whose key Redis does not remember would let a retry store its jobs twice; so they go (the client
      // hears 503, as if Redis had failed a moment earlier) and the key is given up.
      attempt.discard();
      this.release(redisKey, [pending, finished]);
      throw queueUnavailable();
    }
    return answer;
  }

  /**
   * The finished record behind `held`, waiting while it is pending; undefined when the key was given up.
   * 409 for a different request, or when the first request is still storing its job at the deadline.
   */
  private async settled(
    redisKey: string,
    held: string,
    fingerprint: string,
    deadline: number,
  ): Promise<IdempotencyRecord | undefined> {
    let value: string | null = held;
    for (let pause = 5; value !== null; pause = Math.min(pause * 2, 50)) {
      const record = decodeRecord(value);
      if (!record || record.fingerprint !== fingerprint) throw keyReusedWithAnotherRequest();
      if (record.run_at !== undefined) return record;
      if (Date.now() >= deadline) throw keyInProgress();
      await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
      value = await this.call(this.redis.get(redisKey), 'reading the Idempotency-Key');
    }
    return undefined;
  }

  private async call<T>(command: Promise<T>, what: string): Promise<T> {
    try {
      return await withTimeout(command, this.timeoutMs, what);
    } catch (error) {
      this.errors.error(`Could not use Idempotency-Key: ${(error as Error).message}`);
      throw queueUnavailable();
    }
  }

  /**
   * Gives the key up if it still holds one of `values`. Not awaited: Redis may be what just failed. Sent on
   * the same connection after the commands it follows, so Redis runs it after them even when it was frozen.
   */
  private release(redisKey: string, values: string[]): void {
    const entry = { redisKey, values };
    this.unreleased.add(entry);
    this.sendRelease(entry);
  }

  private sendRelease(entry: Release): void {
    this.releaseScript([entry.redisKey], entry.values).then(
      () => this.unreleased.delete(entry),
      () => undefined, // not sent (Redis away): the next 'ready' sends it again, and a pending record expires anyway
    );
  }

  private releasePending(): void {
    for (const entry of this.unreleased) this.sendRelease(entry);
  }
}

/**
 * One try at a registration under a key: its job ids (or schedule id), how to store them, what of the answer the
 * record keeps, the instant that marks the record finished (the first run_at, a schedule's created_at), and how to
 * undo a stored attempt whose key Redis does not remember.
 */
interface Attempt<T> {
  jobIds: string[];
  store: () => Promise<T>;
  kept: (answer: T) => unknown;
  finishedAt: (answer: T) => string;
  discard: () => void;
}

/** What a batch's record keeps: its job ids' seed and its registration time. */
interface BatchRecord {
  seed: string;
  registered_at: number;
}

interface Release {
  redisKey: string;
  values: string[];
}
