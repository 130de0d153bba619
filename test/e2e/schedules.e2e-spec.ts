// SPEC 6.5 through the real AppModule: recurring schedules on BullMQ's job schedulers, against a private
// redis-server, with SCHEDULE_MIN_INTERVAL_SECONDS at 1 so that occurrences come every second.
import type { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { SchedulesService } from '../../src/jobs/api/schedules.service';
import { JobProcessor } from '../../src/jobs/worker/job.processor';
import { failFirstAttempt } from '../support/failing-attempt';
import type { TestApp } from '../support/app';
import { JobsApp, startJobsApp } from '../support/jobs-app';
import type { JobLines } from '../support/job-lines';
import { SERVICE_QUEUE } from '../support/queue';
import type { RedisServer } from '../support/redis-server';
import { untilSentinelPrinted } from '../support/sentinel';
import { bearer, token } from '../support/tokens';
import { eventually, sleep } from '../support/wait';

jest.setTimeout(60_000);

const SCHEDULES = '/api/dm-jobqueue/schedules';
const JOBS = '/api/dm-jobqueue/jobs';
const PREFIX = '{dm-jobqueue-schedules}';
const MAX_SCHEDULES = 5;

const NOT_FOUND = { statusCode: 404, message: 'Schedule not found', error: 'Not Found' };
const badRequest = (message: string | string[]) => ({ statusCode: 400, message, error: 'Bad Request' });
const unique = (what: string) => `${what} ${randomUUID().slice(0, 8)}`;

const other = bearer(token({ subject: 'someone-else' }));
const admin = bearer(token({ subject: 'ops', scope: ['read', 'write', 'admin'] }));
const readOnly = bearer(token({ scope: ['read'] }));

describe('Recurring schedules (SPEC 6.5)', () => {
  let fixture: JobsApp;
  let redis: RedisServer;
  let app: TestApp;
  let lines: JobLines;

  beforeAll(async () => {
    fixture = await startJobsApp({
      QUEUE_PREFIX: PREFIX,
      SCHEDULE_MIN_INTERVAL_SECONDS: '1',
      // The daylight-saving test starts schedules in the coming year.
      JOB_MAX_DELAY_SECONDS: String(500 * 86_400),
      TENANT_MAX_SCHEDULES: String(MAX_SCHEDULES),
      RATE_LIMIT_PER_MINUTE: '0',
    });
    ({ redis, app, lines } = fixture);
  });

  afterAll(() => fixture?.close());

  const post = (body: unknown, auth = bearer()) =>
    app.inject({
      method: 'POST',
      url: SCHEDULES,
      headers: { 'content-type': 'application/json', ...auth },
      payload: JSON.stringify(body),
    });
  const created = async (body: object, auth = bearer()) => {
    const response = await post(body, auth);
    expect(response.json()).toMatchObject({ schedule_id: expect.any(String) });
    expect(response.statusCode).toBe(201);
    return response.json();
  };
  const get = (id: string, auth = bearer()) => app.inject({ method: 'GET', url: `${SCHEDULES}/${id}`, headers: auth });
  const remove = (id: string, auth = bearer()) =>
    app.inject({ method: 'DELETE', url: `${SCHEDULES}/${id}`, headers: auth });
  const list = (query = '', auth = bearer()) =>
    app.inject({ method: 'GET', url: `${SCHEDULES}${query}`, headers: auth });
  const register = (body: unknown) =>
    app.inject({
      method: 'POST',
      url: '/api/dm-jobqueue/register',
      headers: { 'content-type': 'application/json', ...bearer() },
      payload: JSON.stringify(body),
    });
  const printed = (message: string) => lines.printed(message).length;
  const untilPrinted = (message: string, count: number, timeoutMs = 15_000) =>
    lines.waitFor((line) => line.endsWith(`] ${message}`), count, timeoutMs);
  const sentinel = () => untilSentinelPrinted(register, printed);
  const jobsOf = async (scheduleId: string, auth = bearer()) => {
    const response = await app.inject({ method: 'GET', url: `${JOBS}?limit=100`, headers: auth });
    expect(response.statusCode).toBe(200);
    return (response.json().jobs as { schedule_id: string | null }[]).filter((job) => job.schedule_id === scheduleId);
  };
  /** The schedule's view once it has ended (its worker recorded the end). */
  const untilEnded = async (id: string) => {
    let last: unknown;
    return eventually(
      async () => {
        const body = (await get(id)).json();
        last = body;
        return body.state === 'ended' && body.ended_at !== null ? body : undefined;
      },
      10_000,
      () => `the schedule to end: ${JSON.stringify(last)}`,
    );
  };
  const deleteAll = async () => {
    for (;;) {
      const page = (await list('?limit=100')).json().schedules as { schedule_id: string }[];
      if (page.length === 0) return;
      for (const { schedule_id } of page) await remove(schedule_id);
    }
  };

  describe('POST /schedules', () => {
    afterEach(deleteAll);

    it('should create an every_seconds schedule whose occurrences print once a second, and list them as jobs', async () => {
      const message = unique('every second');
      const started = Date.now();
      const schedule = await created({ message, every_seconds: 1 });
      expect(schedule).toEqual({
        schedule_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        owner: 'e2e',
        state: 'active',
        message,
        max_retry: 10,
        cron: null,
        every_seconds: 1,
        tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
        start_at: null,
        end_at: null,
        limit: null,
        created_at: expect.any(String),
        next_run_at: expect.any(String),
        occurrences: 0,
        ended_at: null,
      });
      // The first occurrence is due at once.
      expect(Math.abs(Date.parse(schedule.next_run_at) - started)).toBeLessThan(2_000);
      await untilPrinted(message, 3);
      const view = (await get(schedule.schedule_id)).json();
      expect(view.state).toBe('active');
      expect(view.occurrences).toBeGreaterThanOrEqual(3);
      expect(Date.parse(view.next_run_at)).toBeGreaterThan(Date.now() - 1_500);
      const jobs = await jobsOf(schedule.schedule_id);
      expect(jobs.length).toBeGreaterThanOrEqual(3);
      expect(jobs[0]).toMatchObject({
        job_id: expect.stringMatching(new RegExp(`^repeat:${schedule.schedule_id}:\\d+$`)),
        schedule_id: schedule.schedule_id,
        owner: 'e2e',
        message,
      });
      // One occurrence a second: run_at one second apart, each printed once.
      const runAts = (jobs as unknown as { run_at: string }[]).map((job) => Date.parse(job.run_at)).sort();
      for (let i = 1; i < runAts.length; i++) expect(runAts[i] - runAts[i - 1]).toBe(1_000);
    });

    it('should run a 6-field cron every second, in its zone', async () => {
      const message = unique('cron seconds');
      const schedule = await created({ message, cron: '* * * * * *', tz: 'Asia/Kathmandu' });
      expect(schedule).toMatchObject({ cron: '* * * * * *', tz: 'Asia/Kathmandu', every_seconds: null });
      // A cron's occurrences fall on whole seconds.
      expect(Date.parse(schedule.next_run_at) % 1_000).toBe(0);
      await untilPrinted(message, 2);
    });

    it('should stop after `limit` occurrences, then show the schedule as ended', async () => {
      const message = unique('limited');
      const schedule = await created({ message, every_seconds: 1, limit: 2 });
      await untilPrinted(message, 2);
      const view = await untilEnded(schedule.schedule_id);
      expect(view).toMatchObject({ occurrences: 2, next_run_at: null, limit: 2 });
      await sleep(1_500);
      await sentinel();
      expect(printed(message)).toBe(2);
      expect(await jobsOf(schedule.schedule_id)).toHaveLength(2);
    });

    it('should have no occurrence due after end_at', async () => {
      const message = unique('until end');
      const endAt = Date.now() + 2_500;
      const schedule = await created({ message, every_seconds: 1, end_at: new Date(endAt).toISOString() });
      await untilEnded(schedule.schedule_id);
      await sleep(1_500);
      await sentinel();
      const jobs = (await jobsOf(schedule.schedule_id)) as unknown as { run_at: string; state: string }[];
      expect(jobs.length).toBeGreaterThanOrEqual(2);
      for (const job of jobs) expect(Date.parse(job.run_at)).toBeLessThanOrEqual(endAt);
      expect(printed(message)).toBe(jobs.length);
      expect((await get(schedule.schedule_id)).json()).toMatchObject({ state: 'ended', next_run_at: null });
    });

    // Next year's dates, so that the start_at stay ahead: New York moves to summer time on the second Sunday of March
    // at 2:00 (9:00 is 14:00Z before it and 13:00Z after); Tokyo has no daylight-saving time.
    const year = new Date().getUTCFullYear() + 1;
    const day = (month: number, date: number) => Date.UTC(year, month, date);
    const firstSunday = (month: number) => 1 + ((7 - new Date(day(month, 1)).getUTCDay()) % 7);
    const dstSunday = firstSunday(2) + 7;
    const firstSaturday = 1 + ((13 - new Date(day(0, 1)).getUTCDay()) % 7);
    const at = (date: number, hours: number, minutes = 0) =>
      new Date(date + (hours * 60 + minutes) * 60_000).toISOString();
    it.each([
      [
        '9:00 the day before the change is 14:00Z',
        '0 9 * * *',
        'America/New_York',
        at(day(2, dstSunday - 1), 12),
        at(day(2, dstSunday - 1), 14),
      ],
      [
        '9:00 on the day of the change is 13:00Z',
        '0 9 * * *',
        'America/New_York',
        at(day(2, dstSunday), 12),
        at(day(2, dstSunday), 13),
      ],
      [
        '2:30, which does not exist that night, runs at 3:30 summer time',
        '30 2 * * *',
        'America/New_York',
        at(day(2, dstSunday), 5),
        at(day(2, dstSunday), 7, 30),
      ],
      [
        'weekdays at 9:00 in Tokyo: from a Saturday, the Monday at 0:00Z',
        '0 9 * * 1-5',
        'Asia/Tokyo',
        at(day(0, firstSaturday), -9),
        at(day(0, firstSaturday + 2), 0),
      ],
    ])('should compute the first occurrence in the zone: %s', async (_, cron, tz, startAt, nextRunAt) => {
      const schedule = await created({ message: unique('zoned'), cron, tz, start_at: startAt });
      expect(schedule).toMatchObject({ cron, tz, start_at: startAt, next_run_at: nextRunAt });
      expect((await get(schedule.schedule_id)).json().next_run_at).toBe(nextRunAt);
    });

    it.each([
      [{ message: 'x' }, ['cron or every_seconds is required']],
      [{ cron: '* * * * *', every_seconds: 60 }, ['cron and every_seconds are mutually exclusive: give one of them']],
      [
        { cron: '61 * * * *' },
        ['cron is not a valid cron expression: Constraint error, got value 61 expected range 0-59'],
      ],
      [
        { cron: '* * * *' },
        ['cron must be a cron expression of 5 fields, or 6 with seconds first, such as "0 9 * * 1-5"'],
      ],
      [
        { cron: '@daily' },
        ['cron must be a cron expression of 5 fields, or 6 with seconds first, such as "0 9 * * 1-5"'],
      ],
      [{ cron: '0 0 30 2 *' }, ['cron is not a valid cron expression: Invalid explicit day of month definition']],
      [{ cron: '0 9 * * *', tz: 'Mars/Olympus' }, ['tz must be an IANA time zone name, such as Asia/Tokyo or UTC']],
      [{ cron: '0 9 * * *', tz: '+09:00' }, ['tz must be an IANA time zone name, such as Asia/Tokyo or UTC']],
      [{ every_seconds: 0 }, ['every_seconds must not be less than 1']],
      [{ every_seconds: 1.5 }, ['every_seconds must be an integer number']],
      [
        { every_seconds: 60, start_at: '2027-01-02T00:00:00Z', end_at: '2027-01-01T00:00:00Z' },
        ['end_at must be after start_at'],
      ],
      [{ every_seconds: 60, end_at: '2020-01-01T00:00:00Z' }, ['end_at must be in the future']],
      [
        { every_seconds: 60, start_at: 'tomorrow' },
        [
          'start_at must be an RFC 3339 date-time with Z or an offset, such as 2026-12-01T09:00:00Z or 2026-12-01T18:00:00+09:00',
        ],
      ],
      [{ every_seconds: 60, limit: 0 }, ['limit must not be less than 1']],
      [{ every_seconds: 60, limit: 1e300 }, ['limit must not be greater than 1000000000']],
      [{ every_seconds: 60, colour: 'red' }, ['property colour should not exist']],
    ])('should answer 400 naming the field for %j', async (body, message) => {
      const response = await post(body);
      expect(response.json()).toEqual(badRequest(message));
      expect(response.statusCode).toBe(400);
    });

    it('should answer 403 to a token without scope write', async () => {
      const response = await post({ every_seconds: 60 }, readOnly);
      expect(response.statusCode).toBe(403);
    });

    it(`should refuse the tenant's schedule number ${MAX_SCHEDULES + 1} with 429, and take one again after a delete`, async () => {
      const ids: string[] = [];
      for (let i = 0; i < MAX_SCHEDULES; i++) ids.push((await created({ cron: '0 9 * * *' })).schedule_id);
      const refused = await post({ cron: '0 9 * * *' });
      expect(refused.json()).toEqual({
        statusCode: 429,
        message: 'Schedule quota exceeded',
        error: 'Too Many Requests',
      });
      expect(refused.statusCode).toBe(429);
      // Another tenant has a quota of its own.
      const theirs = await created({ cron: '0 9 * * *' }, other);
      expect((await remove(theirs.schedule_id, other)).statusCode).toBe(204);
      expect((await list('?limit=100')).json().schedules).toHaveLength(MAX_SCHEDULES);
      expect((await remove(ids[0])).statusCode).toBe(204);
      await created({ cron: '0 9 * * *' });
    });

    it('should keep the quota exact under 20 concurrent creations', async () => {
      const answers = await Promise.all(Array.from({ length: 20 }, () => post({ cron: '0 9 * * *' })));
      const statuses = answers.map((answer) => answer.statusCode).sort();
      expect(statuses).toEqual([...Array(MAX_SCHEDULES).fill(201), ...Array(20 - MAX_SCHEDULES).fill(429)]);
      expect((await list('?limit=100')).json().schedules).toHaveLength(MAX_SCHEDULES);
      expect(await redis.command('ZCARD', `${PREFIX}:${SERVICE_QUEUE}:repeat`)).toBe(MAX_SCHEDULES);
    });

    it('should give back the place of a schedule that ended', async () => {
      for (let i = 0; i < MAX_SCHEDULES - 1; i++) await created({ cron: '0 9 * * *' });
      const message = unique('ends soon');
      const ending = await created({ message, every_seconds: 1, limit: 1 });
      await untilPrinted(message, 1);
      await untilEnded(ending.schedule_id);
      await created({ cron: '0 9 * * *' });
    });
  });

  describe('Idempotency-Key', () => {
    afterEach(deleteAll);

    const postWithKey = (body: unknown, key: string) =>
      app.inject({
        method: 'POST',
        url: SCHEDULES,
        headers: { 'content-type': 'application/json', 'idempotency-key': key, ...bearer() },
        payload: JSON.stringify(body),
      });

    it('should create one schedule for repeats of a request with the same key, and answer them 200 as the first', async () => {
      const key = unique('schedule-key');
      const body = { cron: '0 9 * * *', tz: 'Asia/Tokyo', message: unique('once') };
      const first = await postWithKey(body, key);
      expect(first.statusCode).toBe(201);
      const repeats = await Promise.all([1, 2, 3].map(() => postWithKey(body, key)));
      for (const repeat of repeats) {
        expect(repeat.statusCode).toBe(200);
        expect(repeat.json()).toEqual(first.json());
      }
      expect((await list()).json().schedules).toHaveLength(1);
      // The same key with another request, or for a job registration: 409, nothing stored.
      const other = await postWithKey({ ...body, cron: '0 10 * * *' }, key);
      expect(other.json()).toEqual({
        statusCode: 409,
        message: 'Idempotency-Key was already used with a different request',
        error: 'Conflict',
      });
      const asJob = await app.inject({
        method: 'POST',
        url: '/api/dm-jobqueue/register',
        headers: { 'content-type': 'application/json', 'idempotency-key': key, ...bearer() },
        payload: JSON.stringify({ message: body.message }),
      });
      expect(asJob.statusCode).toBe(409);
      expect((await list()).json().schedules).toHaveLength(1);
    });

    it('should create one schedule for concurrent first requests with the same key', async () => {
      const key = unique('schedule-key');
      const answers = await Promise.all([1, 2, 3, 4].map(() => postWithKey({ every_seconds: 3600 }, key)));
      expect(answers.map((answer) => answer.statusCode).sort()).toEqual([200, 200, 200, 201]);
      expect(new Set(answers.map((answer) => answer.json().schedule_id)).size).toBe(1);
      expect((await list()).json().schedules).toHaveLength(1);
    });

    it('should refuse an invalid key', async () => {
      const response = await postWithKey({ every_seconds: 3600 }, 'é');
      expect(response.json()).toEqual(badRequest('Idempotency-Key must be 1 to 255 printable ASCII characters'));
    });
  });

  describe('races and failures', () => {
    const spies: jest.SpyInstance[] = [];
    afterEach(async () => {
      for (const spy of spies.splice(0)) spy.mockRestore();
      await deleteAll();
    });
    /** BullMQ's upsertJobScheduler as the service calls it, made slow before or after it reaches Redis. */
    const slowUpsert = (before: number, after: number) => {
      const queue = app.app.get<SchedulesService, { queue: Queue }>(SchedulesService).queue;
      const upsert = queue.upsertJobScheduler.bind(queue);
      spies.push(
        jest.spyOn(queue, 'upsertJobScheduler').mockImplementation(async (...args) => {
          await sleep(before);
          const first = await upsert(...args);
          await sleep(after);
          return first;
        }),
      );
    };

    it('should not run the retry of a failed occurrence after DELETE answered 204', async () => {
      const message = unique('retried');
      // The first attempt prints, then fails: its retry is due after the backoff (JOB_BACKOFF_MS, 1 s).
      spies.push(failFirstAttempt(app.app.get(JobProcessor), message));
      const schedule = await created({ message, every_seconds: 3600, max_retry: 2 });
      await untilPrinted(message, 1);
      expect((await remove(schedule.schedule_id)).statusCode).toBe(204);
      await sleep(2_000);
      await sentinel();
      expect(printed(message)).toBe(1);
      const [job] = (await jobsOf(schedule.schedule_id)) as unknown as { state: string; failed_reason: string }[];
      expect(job).toMatchObject({ state: 'failed', failed_reason: 'Its schedule was deleted or had ended' });
    });

    it("should still run the retry of an ended schedule's last occurrence once its record is gone", async () => {
      const message = unique('late retry');
      // The first attempt fails without its line: the retry is due after the backoff (JOB_BACKOFF_MS, 1 s).
      spies.push(failFirstAttempt(app.app.get(JobProcessor), message, { printed: false }));
      const schedule = await created({ message, every_seconds: 3600, limit: 1, max_retry: 1 });
      const ended = await untilEnded(schedule.schedule_id);
      expect(ended.occurrences).toBe(1);
      // Its record expires (retention, or the cap on ended records) before the retry is due.
      await redis.command('DEL', `${PREFIX}:schedule:${schedule.schedule_id}`);
      await untilPrinted(message, 1);
      await sentinel();
      expect(printed(message)).toBe(1);
    });

    it('should leave a tombstone on DELETE that lives as long as the retries, and answer 404 after it', async () => {
      const schedule = await created({ cron: '0 9 * * *', max_retry: 3 });
      expect((await remove(schedule.schedule_id)).statusCode).toBe(204);
      const record = `${PREFIX}:schedule:${schedule.schedule_id}`;
      expect(await redis.command('HGETALL', record)).toEqual(['owner', 'e2e', 'deleted', '1']);
      // JOB_BACKOFF_MS (1 s) × 2^3, and the stalled-retake margin (30 s lock + 2 × 30 s stalled interval).
      const ttl = Number(await redis.command('PTTL', record));
      expect(ttl).toBeGreaterThan(90_000);
      expect(ttl).toBeLessThanOrEqual(98_000);
      expect((await get(schedule.schedule_id)).json()).toEqual(NOT_FOUND);
      expect((await remove(schedule.schedule_id)).json()).toEqual(NOT_FOUND);
      expect((await list()).json().schedules).toEqual([]);
    });

    it("should not print an occurrence due after end_at even when the worker's script could not take it out", async () => {
      const processor = app.app.get<JobProcessor, { occurrenceStarted: () => Promise<undefined> }>(JobProcessor);
      // The script that takes out the occurrence after end_at (and ends the schedule) never reaches Redis.
      spies.push(jest.spyOn(processor, 'occurrenceStarted').mockResolvedValue(undefined));
      const message = unique('past end');
      const endAt = Date.now() + 2_500;
      const schedule = await created({ message, every_seconds: 1, end_at: new Date(endAt).toISOString() });
      const first = Date.parse(schedule.next_run_at);
      const due = Math.floor((endAt - first) / 1_000) + 1;
      await sleep(endAt - Date.now() + 1_500);
      await sentinel();
      expect(printed(message)).toBe(due);
    });

    it('should keep the expiry of a schedule that ended before its creation was confirmed', async () => {
      // The first occurrence, due at once, runs and ends the schedule (limit 1) while BullMQ's answer is on its way.
      slowUpsert(0, 600);
      const message = unique('ends first');
      const schedule = await created({ message, every_seconds: 60, limit: 1 });
      await untilEnded(schedule.schedule_id);
      expect(Number(await redis.command('PTTL', `${PREFIX}:schedule:${schedule.schedule_id}`))).toBeGreaterThan(0);
      expect(printed(message)).toBe(1);
    });

    it('should answer 409 and run nothing when a DELETE comes while the schedule is being created', async () => {
      slowUpsert(400, 0);
      const message = unique('deleted while created');
      const creating = post({ message, every_seconds: 3600 });
      const listed = await eventually(
        async () =>
          ((await list()).json().schedules as { schedule_id: string; message: string }[]).find(
            (schedule) => schedule.message === message,
          ),
        2_000,
        'the schedule being created to be listed',
      );
      expect((await remove(listed.schedule_id)).statusCode).toBe(204);
      const answer = await creating;
      expect(answer.json()).toEqual({
        statusCode: 409,
        message: 'Schedule was deleted while it was being created',
        error: 'Conflict',
      });
      await sleep(1_000);
      await sentinel();
      expect(printed(message)).toBe(0);
      expect(await redis.command('ZSCORE', `${PREFIX}:${SERVICE_QUEUE}:repeat`, listed.schedule_id)).toBeNull();
    });

    it('should run no occurrence after a 503 once Redis has the mark, and leave nothing behind', async () => {
      // The upsert lands, its answer comes 2.5 s later, after the create timeout (2 × REDIS_TIMEOUT_MS, 1 s): 503 at
      // about 1 s, and the sweep that deletes what landed only at 2.5 s, so the occurrence due in between (a cron due
      // every second) is stopped by the mark alone.
      slowUpsert(0, 2_500);
      const message = unique('after 503');
      const answer = await post({ message, cron: '* * * * * *' });
      expect(answer.statusCode).toBe(503);
      // The mark went to Redis before the 503 was sent: an occurrence a worker took after this moment must not run.
      const answeredAt = Date.now();
      await sleep(2_500);
      await sentinel();
      // The first occurrence may have run, if a worker took it before the mark (as a job due at once can run after
      // a 503; its line may even come after the answer); none taken after it.
      const queue = app.app.get<SchedulesService, { queue: Queue }>(SchedulesService).queue;
      const ran = (await queue.getJobs(['completed', 'active'])).filter((job) => job.data.message === message);
      expect(ran.length).toBeLessThanOrEqual(1);
      expect(printed(message)).toBe(ran.length);
      for (const job of ran) expect(job.processedOn).toBeLessThanOrEqual(answeredAt);
      expect((await list()).json().schedules).toEqual([]);
      expect(await redis.command('ZCARD', `${PREFIX}:${SERVICE_QUEUE}:repeat`)).toBe(0);
    });
  });

  describe('ended schedules', () => {
    afterEach(deleteAll);

    it(`should keep at most ${MAX_SCHEDULES} ended schedules per tenant, deleting the oldest (no unbounded records)`, async () => {
      // The abuse: schedules with limit 1 end at once and give their place back; their records must not pile up.
      const ids: string[] = [];
      for (let round = 0; round < 2; round++) {
        const batch = round === 0 ? MAX_SCHEDULES : 2;
        const started: string[] = [];
        for (let i = 0; i < batch; i++) started.push((await created({ every_seconds: 60, limit: 1 })).schedule_id);
        for (const id of started) await untilEnded(id);
        ids.push(...started);
      }
      const listed = (await list('?limit=100')).json().schedules.map((s: { schedule_id: string }) => s.schedule_id);
      expect(listed).toEqual(ids.slice(2).reverse());
      for (const id of ids.slice(0, 2)) expect((await get(id)).json()).toEqual(NOT_FOUND);
      // Every record left is bounded: the ended ones by count and retention, the tombstones of deleted ones by time.
      const records = (await redis.command('KEYS', `${PREFIX}:schedule:*`)) as string[];
      const ended: string[] = [];
      for (const record of records) {
        expect(Number(await redis.command('PTTL', record))).toBeGreaterThan(0);
        if (Number(await redis.command('HEXISTS', record, 'ended_at')) === 1) ended.push(record);
      }
      expect(ended).toHaveLength(MAX_SCHEDULES);
    });
  });

  describe('GET and DELETE', () => {
    afterEach(deleteAll);

    it("should answer another tenant's schedule exactly as an unknown one, and let an admin see and delete it", async () => {
      const schedule = await created({ cron: '0 9 * * *' });
      for (const id of [schedule.schedule_id, randomUUID(), 'not-a-uuid']) {
        const read = await get(id, other);
        expect(read.json()).toEqual(NOT_FOUND);
        expect(read.statusCode).toBe(404);
        const deleted = await remove(id, other);
        expect(deleted.json()).toEqual(NOT_FOUND);
        expect(deleted.statusCode).toBe(404);
      }
      expect((await list('', other)).json()).toEqual({ schedules: [], next_cursor: null });
      expect((await get(schedule.schedule_id.toUpperCase())).json()).toEqual(schedule);
      expect((await get(schedule.schedule_id, admin)).json()).toEqual(schedule);
      const listed = (await list('?owner=e2e', admin)).json();
      expect(listed.schedules.map((s: { schedule_id: string }) => s.schedule_id)).toEqual([schedule.schedule_id]);
      expect((await list('?owner=e2e', other)).statusCode).toBe(403);
      expect((await remove(schedule.schedule_id, admin)).statusCode).toBe(204);
      expect((await get(schedule.schedule_id)).json()).toEqual(NOT_FOUND);
    });

    it('should run no occurrence after DELETE, also one that was due and waiting', async () => {
      const message = unique('deleted');
      const schedule = await created({ message, every_seconds: 1 });
      await untilPrinted(message, 2);
      expect((await remove(schedule.schedule_id)).statusCode).toBe(204);
      const count = printed(message);
      await sleep(2_000);
      await sentinel();
      expect(printed(message)).toBe(count);
      expect((await remove(schedule.schedule_id)).json()).toEqual(NOT_FOUND);
      // Its BullMQ scheduler and pending occurrence are gone; past occurrences stay in the job list.
      expect(await redis.command('ZSCORE', `${PREFIX}:${SERVICE_QUEUE}:repeat`, schedule.schedule_id)).toBeNull();
      const jobs = (await jobsOf(schedule.schedule_id)) as unknown as { state: string }[];
      expect(jobs.length).toBeGreaterThanOrEqual(count);
      for (const job of jobs) expect(job.state).not.toMatch(/delayed|waiting/);
    });

    it('should page through schedules newest first, each once', async () => {
      const ids: string[] = [];
      for (let i = 0; i < MAX_SCHEDULES; i++) ids.push((await created({ cron: '0 9 * * *' })).schedule_id);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { schedules: { schedule_id: string }[]; next_cursor: string | null } = (
          await list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
        ).json();
        expect(page.schedules.length).toBeLessThanOrEqual(2);
        seen.push(...page.schedules.map((s: { schedule_id: string }) => s.schedule_id));
        cursor = page.next_cursor;
      } while (cursor);
      expect(seen).toEqual([...ids].reverse());
      expect((await list('?state=active')).json()).toEqual(badRequest(['property state should not exist']));
    });

    it('should answer 409 to cancelling or moving an occurrence, and 404 for another tenant', async () => {
      const schedule = await created({ cron: '0 9 * * *' });
      const [job] = (await jobsOf(schedule.schedule_id)) as unknown as { job_id: string; state: string }[];
      expect(job.state).toBe('delayed');
      const read = await app.inject({ method: 'GET', url: `${JOBS}/${job.job_id}`, headers: bearer() });
      expect(read.json()).toMatchObject({ job_id: job.job_id, schedule_id: schedule.schedule_id, state: 'delayed' });
      expect(read.json().run_at).toBe(schedule.next_run_at);
      const cancel = await app.inject({ method: 'DELETE', url: `${JOBS}/${job.job_id}`, headers: bearer() });
      expect(cancel.json()).toEqual({
        statusCode: 409,
        message: 'Job is an occurrence of a schedule',
        error: 'Conflict',
      });
      const move = await app.inject({
        method: 'PATCH',
        url: `${JOBS}/${job.job_id}`,
        headers: { 'content-type': 'application/json', ...bearer() },
        payload: JSON.stringify({ delay_seconds: 5 }),
      });
      expect(move.statusCode).toBe(409);
      const theirs = await app.inject({ method: 'DELETE', url: `${JOBS}/${job.job_id}`, headers: other });
      expect(theirs.json()).toEqual({ statusCode: 404, message: 'Job not found', error: 'Not Found' });
    });

    it('should keep every schedule key in the queue hash tag', async () => {
      const message = unique('keys');
      await created({ message, every_seconds: 1 });
      await untilPrinted(message, 1);
      const keys = (await redis.command('KEYS', '*')) as string[];
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) expect(key.startsWith(PREFIX)).toBe(true);
      expect(keys).toEqual(expect.arrayContaining([`${PREFIX}:schedules`]));
    });
  });
});
