// Recurring schedules (SPEC 6.5) over BullMQ's job schedulers: creates one within its owner's quota, reads, lists
// and deletes them. The worker runs the occurrences (job.processor.ts).
import { InjectQueue } from '@nestjs/bullmq';
import { ConflictException, HttpException, HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { Queue, RepeatOptions } from 'bullmq';
import { randomUUID } from 'node:crypto';
import type { Principal } from '../../auth/principal';
import { LogThrottle } from '../../common/log-throttle';
import { withTimeout } from '../../common/timeout';
import { AppConfig } from '../../config/app-config';
import type { RedisClient } from '../../redis/redis-connection.factory';
import { REDIS_PRODUCER } from '../../redis/redis.constants';
import { JOB_NAME, JobData, jobOptions, QUEUE_NAME } from '../job';
import { globalIndexKey, INDEX_GRACE_MS, indexTtlAfterDueMs } from '../job-index';
import { defineLuaScript, LuaScript } from '../lua-script';
import { globalSchedulesKey, occurrenceData, occurrenceOf, ScheduleRequest, scheduleKey } from '../schedule';
import {
  createScheduleLua,
  DELETE_SCHEDULE_LUA,
  ABANDON_SCHEDULE_LUA,
  CONFIRM_SCHEDULE_LUA,
  LIST_SCHEDULES_LUA,
  READ_SCHEDULE_LUA,
} from '../schedule-scripts';
import { endedSchedulesKey, liveSchedulesKey, tenantIndexKey, tenantSchedulesKey } from '../tenant-keys';
import type { ScheduleListDto, ScheduleViewDto } from './dto/schedule-responses.dto';
import { CANCELLED_JOB_TTL_MS } from './job-scripts';
import { encodeCursor, ListCursor } from './job-view';
import { queueUnavailable } from './jobs.service';
import { DescribeReply, parseDescribeReply, toScheduleView } from './schedule-view';

/** A list request after validation. */
export interface ScheduleListQuery {
  limit: number;
  cursor?: ListCursor;
  /** An admin's owner filter. */
  owner?: string;
}

type ListReply = [string | null, string | null, ...[string, string, DescribeReply][]];

/**
 * How long the mark of a creation given up outlives it: long enough for the deletion that follows (which leaves a
 * tombstone); should that never come, a record gone while its scheduler stays stops the occurrences as well.
 */
const ABANDONED_TTL_MS = 60_000;

/** The longest a deleted schedule's tombstone stops late retries of its occurrences (a week). */
const TOMBSTONE_MAX_MS = 7 * 86_400_000;

/** SPEC 6.3: the tenant has TENANT_MAX_SCHEDULES live schedules; nothing was stored. */
function scheduleQuotaExceeded(): HttpException {
  return new HttpException('Schedule quota exceeded', HttpStatus.TOO_MANY_REQUESTS);
}

@Injectable()
export class SchedulesService {
  private readonly logger = new Logger(SchedulesService.name);
  private readonly errors = new LogThrottle(this.logger);
  private readonly timeoutMs: number;
  private readonly prefix: string;
  private readonly jobOptions: ReturnType<typeof jobOptions>;
  private readonly indexTtlAfterDueMs: number;
  private readonly createScript: LuaScript<number>;
  private readonly confirmScript: LuaScript<number>;
  private readonly abandonScript: LuaScript<number>;
  private readonly deleteScript: LuaScript<string | null>;
  private readonly readScript: LuaScript<DescribeReply | null>;
  private readonly listScript: LuaScript<ListReply>;
  /**
   * How old a live schedule without a BullMQ scheduler must be before the quota takes its place back: older than
   * any creation still on its way (its upsert follows its record within the create timeout).
   */
  private readonly creationGraceMs: number;
  private readonly backoffMs: number;
  /** How long a dead worker's occurrence may take to be taken back and started again (stalled-job recovery). */
  private readonly stalledRetakeMs: number;
  /** Schedules answered 503 whose creation may have landed in part (with their owner): deleted once Redis answers. */
  private readonly abandoned = new Map<string, string>();

  constructor(
    @InjectQueue(QUEUE_NAME) private readonly queue: Queue<JobData>,
    @Inject(REDIS_PRODUCER) private readonly redis: RedisClient,
    config: AppConfig,
  ) {
    this.timeoutMs = config.get('REDIS_TIMEOUT_MS');
    this.prefix = config.get('QUEUE_PREFIX');
    this.indexTtlAfterDueMs = indexTtlAfterDueMs(config);
    this.creationGraceMs = 2 * this.timeoutMs + INDEX_GRACE_MS;
    this.backoffMs = config.get('JOB_BACKOFF_MS');
    this.stalledRetakeMs = config.get('WORKER_LOCK_DURATION_MS') + 2 * config.get('WORKER_STALLED_INTERVAL_MS');
    // Every occurrence is a job as a registered one: its attempts, backoff and retention.
    this.jobOptions = jobOptions(config);
    this.createScript = defineLuaScript(
      this.redis,
      'dmScheduleCreate',
      5,
      createScheduleLua({ maxSchedules: config.get('TENANT_MAX_SCHEDULES') }),
    );
    this.confirmScript = defineLuaScript(this.redis, 'dmScheduleConfirm', 8, CONFIRM_SCHEDULE_LUA);
    this.abandonScript = defineLuaScript(this.redis, 'dmScheduleAbandon', 1, ABANDON_SCHEDULE_LUA);
    this.deleteScript = defineLuaScript(this.redis, 'dmScheduleDelete', 12, DELETE_SCHEDULE_LUA);
    this.readScript = defineLuaScript(this.redis, 'dmScheduleRead', 2, READ_SCHEDULE_LUA);
    this.listScript = defineLuaScript(this.redis, 'dmScheduleList', 2, LIST_SCHEDULES_LUA);
    this.redis.on('ready', () => void this.deleteAbandoned());
  }

  /**
   * Creates the schedule: its record and quota place, then BullMQ's job scheduler with its first occurrence. 429 when
   * the owner has TENANT_MAX_SCHEDULES live schedules; 409 when a DELETE of it came while it was being created; 503
   * (Retry-After) when Redis cannot take it in time: then no occurrence of it starts once Redis has the mark sent at
   * once, and whatever landed is deleted as soon as Redis answers.
   */
  async create(request: ScheduleRequest, owner: string, scheduleId: string = randomUUID()): Promise<ScheduleViewDto> {
    if (this.redis.status !== 'ready') throw queueUnavailable();
    const now = Date.now();
    const creating = this.store(scheduleId, request, owner, now);
    let firstDueAt: number | 'refused' | 'deleted';
    try {
      firstDueAt = await withTimeout(creating, this.timeoutMs * 2, 'creating the schedule');
    } catch (error) {
      // The client hears 503: from the moment Redis runs the mark no occurrence of it starts (one due at once that a
      // worker took before may have run, as a job due at once can after a 503), and the rest is deleted.
      this.abandoned.set(scheduleId, owner);
      this.abandonScript([scheduleKey(this.prefix, scheduleId)], [owner, ABANDONED_TTL_MS]).catch(() => undefined);
      const sweep = () => void this.deleteAbandoned();
      creating.then(sweep, sweep);
      this.errors.error(`Could not create schedule: ${(error as Error).message}`);
      throw queueUnavailable();
    }
    if (firstDueAt === 'refused') throw scheduleQuotaExceeded();
    if (firstDueAt === 'deleted') throw new ConflictException('Schedule was deleted while it was being created');
    return toScheduleView(
      scheduleId,
      {
        record: { owner, created_at: String(now), spec: JSON.stringify(request) },
        nextMillis: firstDueAt,
        created: 1,
        pending: true,
      },
      now,
    )!;
  }

  /**
   * The first occurrence's due time; 'refused' when the quota refused the schedule (nothing stored), 'deleted' when a
   * DELETE came while it was being created (its scheduler is retired).
   */
  private async store(
    scheduleId: string,
    request: ScheduleRequest,
    owner: string,
    now: number,
  ): Promise<number | 'refused' | 'deleted'> {
    const reserved = await this.createScript(
      [
        liveSchedulesKey(this.prefix, owner),
        tenantSchedulesKey(this.prefix, owner),
        globalSchedulesKey(this.prefix),
        scheduleKey(this.prefix, scheduleId),
        this.queue.keys.repeat,
      ],
      [
        scheduleId,
        now,
        owner,
        JSON.stringify(request),
        now - this.creationGraceMs,
        scheduleKey(this.prefix, ''),
        4 * this.creationGraceMs,
      ],
    );
    if (reserved === 0) return 'refused';
    // Answered 503 meanwhile (Redis was slow): its deletion follows, and no scheduler may appear after it.
    if (reserved !== 1 || this.abandoned.has(scheduleId)) throw new Error('the creation was given up');
    const repeat: RepeatOptions = {
      ...(request.cron !== undefined
        ? { pattern: request.cron, tz: request.tz }
        : { every: request.every_seconds! * 1_000 }),
      ...(request.start_at !== undefined && { startDate: request.start_at }),
      ...(request.end_at !== undefined && { endDate: request.end_at }),
      ...(request.limit !== undefined && { limit: request.limit }),
    };
    const first = await this.queue.upsertJobScheduler(scheduleId, repeat, {
      name: JOB_NAME,
      data: occurrenceData(request, owner),
      opts: { ...this.jobOptions, attempts: request.max_retry + 1 },
    });
    const occurrence = first?.id === undefined ? undefined : occurrenceOf(first.id);
    if (first === undefined || occurrence === undefined) throw new Error('BullMQ added no first occurrence');
    const stands = await this.confirmScript(
      [
        scheduleKey(this.prefix, scheduleId),
        tenantIndexKey(this.prefix, owner),
        globalIndexKey(this.prefix),
        this.queue.keys.repeat,
        ...this.waitingLists(),
      ],
      [
        scheduleId,
        first.id!,
        first.timestamp,
        occurrence.dueAt - now + this.indexTtlAfterDueMs,
        this.queue.toKey(''),
        CANCELLED_JOB_TTL_MS,
      ],
    );
    if (stands === 1) return occurrence.dueAt;
    if (this.abandoned.has(scheduleId)) throw new Error('the creation was given up');
    return 'deleted';
  }

  /** The schedule as `principal` may see it (an admin: any), or undefined (no such schedule, or another tenant's). */
  async find(scheduleId: string, principal: Principal): Promise<ScheduleViewDto | undefined> {
    if (this.redis.status !== 'ready') throw queueUnavailable();
    let reply: DescribeReply | null;
    try {
      reply = await withTimeout(
        this.readScript(
          [scheduleKey(this.prefix, scheduleId), this.queue.keys.repeat],
          [scheduleId, this.queue.toKey('')],
        ),
        this.timeoutMs,
        'reading the schedule',
      );
    } catch (error) {
      this.errors.error(`Could not read schedule: ${(error as Error).message}`);
      throw queueUnavailable();
    }
    if (reply === null) return undefined;
    const view = toScheduleView(scheduleId, parseDescribeReply(reply), Date.now());
    return view && (principal.scopes.has('admin') || view.owner === principal.subject) ? view : undefined;
  }

  /** One page of the schedules `principal` may see, newest first. */
  async list(principal: Principal, query: ScheduleListQuery): Promise<ScheduleListDto> {
    if (this.redis.status !== 'ready') throw queueUnavailable();
    const owner = principal.scopes.has('admin') ? query.owner : principal.subject;
    const index = owner === undefined ? globalSchedulesKey(this.prefix) : tenantSchedulesKey(this.prefix, owner);
    let reply: ListReply;
    try {
      reply = await withTimeout(
        this.listScript(
          [index, this.queue.keys.repeat],
          [
            query.limit,
            query.cursor?.score ?? '',
            query.cursor?.id ?? '',
            scheduleKey(this.prefix, ''),
            this.queue.toKey(''),
          ],
        ),
        this.timeoutMs,
        'listing schedules',
      );
    } catch (error) {
      this.errors.error(`Could not list schedules: ${(error as Error).message}`);
      throw queueUnavailable();
    }
    const [nextScore, nextId, ...entries] = reply;
    const now = Date.now();
    const schedules: ScheduleViewDto[] = [];
    for (const [id, , described] of entries) {
      const view = toScheduleView(id, parseDescribeReply(described), now);
      // A tenant's index holds only its schedules; checked anyway, as every read is.
      if (view && (owner === undefined || view.owner === owner)) schedules.push(view);
    }
    const next_cursor = nextScore && nextId ? encodeCursor({ score: nextScore, id: nextId }) : null;
    return { schedules, next_cursor };
  }

  /**
   * Deletes a schedule of `principal`'s (any for an admin): true, or false when there is no such schedule for them.
   * No occurrence starts after it; one that has started finishes. 503 when Redis cannot answer in time (asking GET
   * tells whether it is gone).
   */
  async delete(scheduleId: string, principal: Principal): Promise<boolean> {
    if (this.redis.status !== 'ready') throw queueUnavailable();
    let owner = principal.subject;
    if (principal.scopes.has('admin')) {
      const found = await this.find(scheduleId, principal);
      if (found === undefined) return false;
      owner = found.owner;
    }
    let takenOut: string | null;
    try {
      takenOut = await withTimeout(
        this.remove(scheduleId, owner, principal.scopes.has('admin') ? '' : owner),
        this.timeoutMs,
        'deleting the schedule',
      );
    } catch (error) {
      this.errors.error(`Could not delete schedule: ${(error as Error).message}`);
      throw queueUnavailable();
    }
    return takenOut !== null;
  }

  private async remove(scheduleId: string, owner: string, visibleOwner: string): Promise<string | null> {
    const takenOut = await this.deleteScript(
      [
        scheduleKey(this.prefix, scheduleId),
        liveSchedulesKey(this.prefix, owner),
        tenantSchedulesKey(this.prefix, owner),
        globalSchedulesKey(this.prefix),
        this.queue.keys.repeat,
        ...this.waitingLists(),
        tenantIndexKey(this.prefix, owner),
        globalIndexKey(this.prefix),
        endedSchedulesKey(this.prefix, owner),
      ],
      [
        scheduleId,
        visibleOwner,
        this.queue.toKey(''),
        CANCELLED_JOB_TTL_MS,
        this.backoffMs,
        this.stalledRetakeMs,
        TOMBSTONE_MAX_MS,
      ],
    );
    // The occurrence taken out can no longer run; BullMQ's removal only tidies up (its hash expires anyway).
    if (takenOut) this.queue.remove(takenOut).catch(() => undefined);
    return takenOut;
  }

  /** The lists a schedule's next occurrence can wait in, as the retiring scripts take them: delayed first. */
  private waitingLists(): string[] {
    const { keys } = this.queue;
    return [keys.delayed, keys.prioritized, keys.wait, keys.paused];
  }

  /** Makes sure a created schedule never runs after all (its answer could not be kept): deleted once Redis answers. */
  discard(scheduleId: string, owner: string): void {
    this.abandoned.set(scheduleId, owner);
    void this.deleteAbandoned();
  }

  /** Deletes what the creations answered 503 may have left, now that Redis answers; what fails stays for later. */
  private async deleteAbandoned(): Promise<void> {
    await Promise.all(
      [...this.abandoned].map(async ([scheduleId, owner]) => {
        try {
          await this.remove(scheduleId, owner, owner);
          this.abandoned.delete(scheduleId);
        } catch {
          // Left for the next 'ready'.
        }
      }),
    );
  }
}
