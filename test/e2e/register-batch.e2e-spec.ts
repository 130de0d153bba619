// SPEC 6.4 POST /api/dm-jobqueue/register/batch through the real AppModule, against a private redis-server: answers
// in request order, validation of every item before anything is stored, the batch's own body limit, the pending
// quota counting every item, Idempotency-Key for the batch as a whole, tenants, and its OpenAPI description.
// (Redis failing under a batch: register-batch-outage.e2e-spec.ts.)
import type { Queue } from 'bullmq';
import { createHash, randomUUID } from 'node:crypto';
import type { TestApp } from '../support/app';
import { JobsApp, startJobsApp } from '../support/jobs-app';
import { JobLines } from '../support/job-lines';
import { storedJobs as countJobs } from '../support/queue';
import { RedisServer } from '../support/redis-server';
import { untilSentinelPrinted } from '../support/sentinel';
import { bearer, token } from '../support/tokens';
import { eventually } from '../support/wait';
import { idempotencyRedisKey } from '../../src/jobs/api/idempotency';

jest.setTimeout(60_000);

const REGISTER = '/api/dm-jobqueue/register';
const BATCH = '/api/dm-jobqueue/register/batch';
const JOBS = '/api/dm-jobqueue/jobs';
const PREFIX = `{dm-jobqueue-batch-${randomUUID().slice(0, 8)}}`;
const MAX_SIZE = 8;
const MAX_PENDING = 10;
const BODY_LIMIT = 2_048;
const BATCH_BODY_LIMIT = 65_536;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const UUID_GLOB = '????????-????-????-????-????????????';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const NOT_FOUND = { statusCode: 404, message: 'Job not found', error: 'Not Found' };
const QUOTA_EXCEEDED = { statusCode: 429, message: 'Pending job quota exceeded', error: 'Too Many Requests' };
const KEY_REUSED = {
  statusCode: 409,
  message: 'Idempotency-Key was already used with a different request',
  error: 'Conflict',
};
const badRequest = (message: unknown) => ({ statusCode: 400, message, error: 'Bad Request' });

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const pendingKey = (subject: string) => `${PREFIX}:tenant:${sha256(subject)}:pending`;
const tenantIndexKey = (subject: string) => `${PREFIX}:tenant:${sha256(subject)}:jobs`;
const GLOBAL_INDEX = `${PREFIX}:jobs`;

/** A fresh tenant (token `sub`) per test, so that each starts with an empty pending quota. */
const newTenant = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;
const as = (subject: string, scope: ('read' | 'write' | 'admin')[] = ['read', 'write']) =>
  bearer(token({ subject, scope }));

interface RegisteredJob {
  job_id: string;
  status: string;
  delay_seconds: number;
  max_retry: number;
  run_at: string;
  expires_at: string | null;
}

describe('POST /api/dm-jobqueue/register/batch', () => {
  let fixture: JobsApp;
  let redis: RedisServer;
  let app: TestApp;
  let queue: Queue;
  let lines: JobLines;

  beforeAll(async () => {
    fixture = await startJobsApp({
      QUEUE_PREFIX: PREFIX,
      JOB_BATCH_MAX_SIZE: String(MAX_SIZE),
      TENANT_MAX_PENDING_JOBS: String(MAX_PENDING),
      BODY_LIMIT_BYTES: String(BODY_LIMIT),
      BATCH_BODY_LIMIT_BYTES: String(BATCH_BODY_LIMIT),
      JOB_MESSAGE_MAX_LENGTH: '10000',
      REDIS_TIMEOUT_MS: '1000',
      // The concurrency tests send many requests with one token.
      RATE_LIMIT_PER_MINUTE: '0',
    });
    ({ redis, app, queue, lines } = fixture);
  });

  afterAll(() => fixture?.close());

  const post = (url: string, body: unknown, auth: Record<string, string>, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...auth, ...headers },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const batch = (body: unknown, auth: Record<string, string>, headers: Record<string, string> = {}) =>
    post(BATCH, body, auth, headers);
  const batchOf = (jobs: unknown[], auth: Record<string, string>, headers: Record<string, string> = {}) =>
    batch({ jobs }, auth, headers);
  const getJob = (jobId: string, auth: Record<string, string>) =>
    app.inject({ method: 'GET', url: `${JOBS}/${jobId}`, headers: auth });
  const listJobs = async (auth: Record<string, string>): Promise<string[]> => {
    const response = await app.inject({ method: 'GET', url: `${JOBS}?limit=100`, headers: auth });
    expect(response.statusCode).toBe(200);
    return response.json<{ jobs: { job_id: string }[] }>().jobs.map((job) => job.job_id);
  };
  const jobIds = (response: { json: () => { jobs: RegisteredJob[] } }) => response.json().jobs.map((j) => j.job_id);
  const storedJobs = () => countJobs(queue);
  /** Which of `ids` have a job hash in Redis. */
  const existing = async (ids: string[]) => {
    const found = await Promise.all(ids.map(async (id) => ((await queue.getJob(id)) ? id : undefined)));
    return found.filter((id) => id !== undefined);
  };
  const members = async (key: string) => ((await redis.command('ZRANGE', key, 0, -1)) as string[]).sort();
  /** What Redis holds for `subject` and for every tenant: the job count and the index and quota keys. */
  const snapshot = async (subject: string) => ({
    stored: await storedJobs(),
    pending: await members(pendingKey(subject)),
    tenantIndex: await members(tenantIndexKey(subject)),
    globalIndex: await members(GLOBAL_INDEX),
  });

  type Snapshot = Awaited<ReturnType<typeof snapshot>>;
  /** `before` once one sentinel job has been stored (and run) since: what an untouched tenant then shows. */
  const afterSentinel = (before: Snapshot) => ({
    ...before,
    stored: before.stored + 1,
    globalIndex: before.globalIndex.length + 1,
  });
  const snapshotAfterSentinel = async (subject: string) => {
    const now = await snapshot(subject);
    return { ...now, globalIndex: now.globalIndex.length };
  };
  /** Job hashes that are a refused registration's placeholder (tenant-quota.ts). */
  const placeholders = async () => {
    const keys = (await redis.command('KEYS', `${PREFIX}:jobs:${UUID_GLOB}`)) as string[];
    const flags = await Promise.all(keys.map((key) => redis.command('HEXISTS', key, 'dm-quota-refused')));
    return flags.filter((flag) => flag === 1).length;
  };

  // Sentinels come from a tenant of their own, so they never take a place in a tested tenant's quota.
  const sentinelAuth = as('sentinel');
  const sentinel = (delaySeconds = 0) =>
    untilSentinelPrinted(
      (body) => post(REGISTER, body, sentinelAuth),
      (message) => lines.printed(message).length,
      delaySeconds,
    );

  describe('a valid batch', () => {
    it('should store every job, answer them in request order, and run the due ones once', async () => {
      const alice = newTenant('alice');
      const tag = randomUUID().slice(0, 8);
      const inTwoHours = new Date(Math.floor(Date.now() / 1_000) * 1_000 + 2 * 3_600_000);
      // The same instant written with an offset: 2 h ahead, +09:00.
      const runAt = new Date(inTwoHours.getTime() + 9 * 3_600_000).toISOString().replace(/\.\d{3}Z$/, '+09:00');
      const expiresAt = new Date(Date.now() + 3 * 3_600_000).toISOString();
      const items = [
        { message: `delayed ${tag}`, delay_seconds: 3600, max_retry: 2 },
        { message: `at ${tag}`, run_at: runAt },
        {},
        { message: `expiring ${tag}`, delay_seconds: 3600, expires_at: expiresAt },
        { message: `now-a ${tag}`, delay_seconds: 0 },
        { message: `past ${tag}`, run_at: '2020-01-01T00:00:00Z', max_retry: 0 },
        { message: `now-b ${tag}`, delay_seconds: 0 },
        { message: null, delay_seconds: null, max_retry: null, run_at: null, expires_at: null },
      ];
      const before = await storedJobs();

      const response = await batchOf(items, as(alice));

      expect(response.statusCode).toBe(201);
      const { jobs } = response.json<{ jobs: RegisteredJob[] }>();
      expect(Object.keys(response.json())).toEqual(['jobs']);
      expect(jobs).toHaveLength(items.length);
      const registered = (delay: unknown, maxRetry: number, expires: string | null = null) => ({
        job_id: expect.stringMatching(UUID_V4),
        status: 'registered',
        delay_seconds: delay,
        max_retry: maxRetry,
        run_at: expect.stringMatching(ISO),
        expires_at: expires,
      });
      expect(jobs).toEqual([
        registered(3600, 2),
        // Up to 7200: seconds from the registration (which may come a second after inTwoHours was taken) to run_at.
        registered(expect.any(Number), 10),
        registered(180, 10),
        registered(3600, 10, expiresAt),
        registered(0, 10),
        registered(0, 0),
        registered(0, 10),
        registered(180, 10),
      ]);
      expect(new Set(jobIds(response)).size).toBe(items.length);
      // One registration time for the whole batch: the delays are measured from it.
      const registeredAt = Date.parse(jobs[4].run_at);
      expect(Date.parse(jobs[0].run_at) - registeredAt).toBe(3_600_000);
      expect(jobs[1].run_at).toBe(inTwoHours.toISOString());
      expect(jobs[1].delay_seconds).toBe(Math.ceil((Date.parse(jobs[1].run_at) - registeredAt) / 1_000));
      expect(jobs[1].delay_seconds).toBeGreaterThan(7_190);
      expect(Date.parse(jobs[2].run_at) - registeredAt).toBe(180_000);
      expect(jobs[5].run_at).toBe(jobs[4].run_at); // a past run_at runs now

      // Every job is stored, as each item asked, and its tenant sees it.
      expect(await storedJobs()).toBe(before + items.length);
      expect(await existing(jobIds(response))).toEqual(jobIds(response));
      const views = await Promise.all(jobs.map(async (job) => (await getJob(job.job_id, as(alice))).json()));
      expect(views.map((view) => [view.job_id, view.owner, view.run_at, view.expires_at])).toEqual(
        jobs.map((job) => [job.job_id, alice, job.run_at, job.expires_at]),
      );
      expect(views.map((view) => view.message)).toEqual([
        `delayed ${tag}`,
        `at ${tag}`,
        'Job executed successfully',
        `expiring ${tag}`,
        `now-a ${tag}`,
        `past ${tag}`,
        `now-b ${tag}`,
        'Job executed successfully',
      ]);
      for (const index of [0, 1, 2, 3, 7]) expect(views[index].state).toBe('delayed');
      expect((await listJobs(as(alice))).sort()).toEqual(jobIds(response).sort());

      // The due ones run, each once.
      for (const message of [`now-a ${tag}`, `past ${tag}`, `now-b ${tag}`]) {
        await lines.waitFor((line) => line.endsWith(`] ${message}`));
      }
      await sentinel();
      for (const message of [`now-a ${tag}`, `past ${tag}`, `now-b ${tag}`]) {
        expect(lines.printed(message)).toHaveLength(1);
      }
      for (const message of [`delayed ${tag}`, `at ${tag}`, `expiring ${tag}`]) {
        expect(lines.printed(message)).toHaveLength(0);
      }
      const ran = await eventually(async () => {
        const states = await Promise.all(
          [4, 5, 6].map(async (index) => (await getJob(jobs[index].job_id, as(alice))).json().state),
        );
        return states.every((state) => state === 'completed') ? states : undefined;
      });
      expect(ran).toEqual(['completed', 'completed', 'completed']);
    });

    it('should accept exactly JOB_BATCH_MAX_SIZE items', async () => {
      const subject = newTenant('max');
      const before = await storedJobs();

      const response = await batchOf(
        Array.from({ length: MAX_SIZE }, (_, i) => ({ message: `max ${i}`, delay_seconds: 3600 })),
        as(subject),
      );

      expect(response.statusCode).toBe(201);
      expect(response.json().jobs).toHaveLength(MAX_SIZE);
      expect(await storedJobs()).toBe(before + MAX_SIZE);
      expect(await existing(jobIds(response))).toEqual(jobIds(response));
      expect(await members(pendingKey(subject))).toEqual(jobIds(response).sort());
      expect(await members(tenantIndexKey(subject))).toEqual(jobIds(response).sort());
    });

    it('should answer 401 without a token and 403 without the write scope, storing nothing', async () => {
      const subject = newTenant('scope');
      const before = await snapshot(subject);

      const anonymous = await batchOf([{ delay_seconds: 3600 }], {});
      const readOnly = await batchOf([{ delay_seconds: 3600 }], as(subject, ['read']));

      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json()).toEqual({
        statusCode: 401,
        message: 'Authorization header is required',
        error: 'Unauthorized',
      });
      expect(readOnly.statusCode).toBe(403);
      expect(readOnly.json()).toEqual({ statusCode: 403, message: 'Insufficient scope', error: 'Forbidden' });
      expect(await snapshot(subject)).toEqual(before);
    });
  });

  describe('an invalid item', () => {
    it('should answer 400 naming every bad item by its index, and store none of the good ones', async () => {
      const subject = newTenant('bad-item');
      const tag = randomUUID().slice(0, 8);
      const before = await snapshot(subject);

      const response = await batchOf(
        [
          { message: `good-0 ${tag}`, delay_seconds: 0 },
          { delay_seconds: '5' },
          { message: 'hi', jobId: 'mine' },
          { message: 'x'.repeat(10_001) },
          'not an object',
          { run_at: '2030-01-01T00:00:00Z', delay_seconds: 5 },
          { message: `good-6 ${tag}`, delay_seconds: 0 },
          null,
        ],
        as(subject),
      );

      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual(
        badRequest([
          'jobs.1.delay_seconds must be an integer number',
          'jobs.2.property jobId should not exist',
          'jobs.3.message must be shorter than or equal to 10000 characters',
          'jobs.4 must be a JSON object',
          'jobs.5.delay_seconds and run_at are mutually exclusive: give one of them',
          'jobs.7 must be a JSON object',
        ]),
      );
      // The good items were due at once: had they been stored, they would have printed before the sentinel.
      await sentinel();
      expect(lines.printed(`good-0 ${tag}`)).toHaveLength(0);
      expect(lines.printed(`good-6 ${tag}`)).toHaveLength(0);
      expect(await snapshotAfterSentinel(subject)).toEqual(afterSentinel(before));
    });

    it.each<[string, unknown, string[]]>([
      ['a fractional max_retry', { max_retry: 1.5 }, ['jobs.0.max_retry must be an integer number']],
      ['a boolean delay', { delay_seconds: true }, ['jobs.0.delay_seconds must be an integer number']],
      ['a numeric message', { message: 5 }, ['jobs.0.message must be a string']],
      ['a negative delay', { delay_seconds: -1 }, ['jobs.0.delay_seconds must not be less than 0']],
      ['a BullMQ option', { attempts: 1000 }, ['jobs.0.property attempts should not exist']],
      ['an array', [], ['jobs.0 must be a JSON object']],
      [
        'a run_at without an offset',
        { run_at: '2030-01-01T00:00:00' },
        [
          'jobs.0.run_at must be an RFC 3339 date-time with Z or an offset, such as 2026-12-01T09:00:00Z or ' +
            '2026-12-01T18:00:00+09:00',
        ],
      ],
      [
        'an expires_at before the due time',
        { delay_seconds: 60, expires_at: '2020-01-01T00:00:00Z' },
        ['jobs.0.expires_at must be after the time the job is due'],
      ],
    ])('should answer %s as the only item with 400', async (_, item, messages) => {
      const subject = newTenant('one-bad');
      const before = await snapshot(subject);

      const response = await batchOf([item, { delay_seconds: 3600 }], as(subject));

      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual(badRequest(messages));
      expect(await snapshot(subject)).toEqual(before);
    });
  });

  describe('the shape of the body', () => {
    it.each<[string, unknown, unknown]>([
      ['an empty object', {}, ['jobs must be an array']],
      ['an empty list of jobs', { jobs: [] }, ['jobs should not be empty']],
      ['jobs as a string', { jobs: 'x' }, ['jobs must be an array']],
      ['jobs as an object', { jobs: { 0: {} } }, ['jobs must be an array']],
      ['a top-level unknown property', { jobs: [{}], dry_run: true }, ['property dry_run should not exist']],
      ['a body that is an array', [{ delay_seconds: 1 }], 'Request body must be a JSON object'],
      ['a body that is a string', '"jobs"', 'Request body must be a JSON object'],
      ['malformed JSON', '{"jobs": [', 'Malformed JSON in request body'],
    ])('should answer %s with 400', async (_, body, message) => {
      const subject = newTenant('shape');
      const before = await snapshot(subject);

      const response = await batch(body, as(subject));

      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual(badRequest(message));
      expect(await snapshot(subject)).toEqual(before);
    });

    it('should answer more than JOB_BATCH_MAX_SIZE items with 400, and store none of them', async () => {
      const subject = newTenant('too-many');
      const tag = randomUUID().slice(0, 8);
      const before = await snapshot(subject);

      const response = await batchOf(
        Array.from({ length: MAX_SIZE + 1 }, () => ({ message: `too many ${tag}`, delay_seconds: 0 })),
        as(subject),
      );

      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual(badRequest([`jobs must contain no more than ${MAX_SIZE} elements`]));
      await sentinel();
      expect(lines.printed(`too many ${tag}`)).toHaveLength(0);
      expect(await snapshotAfterSentinel(subject)).toEqual(afterSentinel(before));
    });
  });

  describe('the body limit', () => {
    /** A batch of `count` delayed items whose JSON is about `bytes` long. */
    const batchBody = (count: number, bytes: number) => {
      const item = (message: string) => ({ message, delay_seconds: 3600 });
      const overhead = JSON.stringify({ jobs: Array.from({ length: count }, () => item('')) }).length;
      const each = Math.ceil((bytes - overhead) / count);
      return JSON.stringify({ jobs: Array.from({ length: count }, (_, i) => item(String(i).padEnd(each, 'x'))) });
    };

    it('should accept a batch over BODY_LIMIT_BYTES, whose size on /register is a 413', async () => {
      const subject = newTenant('limit');
      const body = batchBody(3, BODY_LIMIT * 2);
      expect(body.length).toBeGreaterThan(BODY_LIMIT);
      const single = JSON.stringify({ message: 'x'.repeat(body.length), delay_seconds: 3600 });
      expect(single.length).toBeGreaterThanOrEqual(body.length);
      const before = await storedJobs();

      const onRegister = await post(REGISTER, single, as(subject));
      const onBatch = await batch(body, as(subject));

      expect(onRegister.statusCode).toBe(413);
      expect(onRegister.json()).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
      expect(onBatch.statusCode).toBe(201);
      expect(onBatch.json().jobs).toHaveLength(3);
      expect(await storedJobs()).toBe(before + 3);
    });

    it('should accept a batch just under BATCH_BODY_LIMIT_BYTES', async () => {
      const subject = newTenant('limit');
      const body = batchBody(MAX_SIZE, BATCH_BODY_LIMIT - 100);
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(BATCH_BODY_LIMIT);
      expect(Buffer.byteLength(body)).toBeGreaterThan(BATCH_BODY_LIMIT - 200);

      const response = await batch(body, as(subject));

      expect(response.statusCode).toBe(201);
      expect(await existing(jobIds(response))).toHaveLength(MAX_SIZE);
    });

    it('should answer a batch over BATCH_BODY_LIMIT_BYTES with 413, and store nothing', async () => {
      const subject = newTenant('limit');
      // Every item valid (messages under JOB_MESSAGE_MAX_LENGTH, no more than JOB_BATCH_MAX_SIZE): only its size.
      const body = batchBody(MAX_SIZE, BATCH_BODY_LIMIT + 100);
      expect(Buffer.byteLength(body)).toBeGreaterThan(BATCH_BODY_LIMIT);
      const before = await snapshot(subject);

      const response = await batch(body, as(subject));

      expect(response.statusCode).toBe(413);
      expect(response.json()).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
      expect(await snapshot(subject)).toEqual(before);
    });
  });

  describe('the pending quota', () => {
    const delayed = (count: number, message = 'quota') =>
      Array.from({ length: count }, () => ({ message, delay_seconds: 3600 }));

    it('should count every item: a batch that would go over it stores nothing; one that fits is stored', async () => {
      const subject = newTenant('quota');
      const other = newTenant('quota-other');

      const first = await batchOf(delayed(8), as(subject));
      expect(first.statusCode).toBe(201);
      const before = await snapshot(subject);
      expect(before.pending).toEqual(jobIds(first).sort());

      const over = await batchOf(delayed(3, 'over the quota'), as(subject));

      expect(over.statusCode).toBe(429);
      expect(over.json()).toEqual(QUOTA_EXCEEDED);
      expect(await snapshot(subject)).toEqual(before);
      // The placeholders that kept the refused adds from storing anything are gone too.
      await eventually(async () => ((await placeholders()) === 0 ? true : undefined), 5_000, 'no placeholder left');

      // Another tenant has a quota of its own.
      const elsewhere = await batchOf(delayed(8), as(other));
      expect(elsewhere.statusCode).toBe(201);

      const fits = await batchOf(delayed(2), as(subject));
      expect(fits.statusCode).toBe(201);
      expect(await members(pendingKey(subject))).toEqual([...jobIds(first), ...jobIds(fits)].sort());
      expect(await storedJobs()).toBe(before.stored + 8 + 2);

      const full = await batchOf(delayed(1), as(subject));
      expect(full.statusCode).toBe(429);
      expect(full.json()).toEqual(QUOTA_EXCEEDED);
      expect(await members(pendingKey(subject))).toHaveLength(MAX_PENDING);
    });

    it('should count the batch against the quota that single registrations use, and the other way round', async () => {
      const subject = newTenant('quota-mixed');
      for (let i = 0; i < 5; i += 1) {
        expect((await post(REGISTER, { delay_seconds: 3600 }, as(subject))).statusCode).toBe(201);
      }

      expect((await batchOf(delayed(6), as(subject))).statusCode).toBe(429);
      expect((await batchOf(delayed(5), as(subject))).statusCode).toBe(201);
      const single = await post(REGISTER, { delay_seconds: 3600 }, as(subject));

      expect(single.statusCode).toBe(429);
      expect(single.json()).toEqual(QUOTA_EXCEEDED);
      expect(await members(pendingKey(subject))).toHaveLength(MAX_PENDING);
    });

    it('should never let concurrent batches take a tenant over the quota', async () => {
      const subject = newTenant('quota-race');
      const before = await storedJobs();

      const responses = await Promise.all(Array.from({ length: 10 }, () => batchOf(delayed(3), as(subject))));

      const statuses = responses.map((response) => response.statusCode).sort();
      // 3 batches of 3 fit in 10; a fourth would make 12.
      expect(statuses).toEqual([201, 201, 201, 429, 429, 429, 429, 429, 429, 429]);
      const stored = responses.filter((response) => response.statusCode === 201).flatMap(jobIds);
      expect(await members(pendingKey(subject))).toEqual(stored.sort());
      expect(await storedJobs()).toBe(before + 9);
      expect((await listJobs(as(subject))).sort()).toEqual(stored.sort());
    });
  });

  describe('Idempotency-Key', () => {
    const withKey = (key: string) => ({ 'idempotency-key': key });

    it('should answer a repeat of the batch with the first answer (200), and store nothing new', async () => {
      const subject = newTenant('idem');
      const key = randomUUID();
      const items = [
        { message: 'idem a', delay_seconds: 3600 },
        {},
        { message: 'idem c', run_at: '2020-01-01T00:00:00Z' },
      ];
      const first = await batchOf(items, as(subject), withKey(key));
      expect(first.statusCode).toBe(201);
      const before = await snapshot(subject);

      const repeat = await batchOf(items, as(subject), withKey(key));
      // The same request with the defaults spelled out.
      const spelledOut = await batchOf(
        [items[0], { message: null, delay_seconds: 180, max_retry: 10 }, items[2]],
        as(subject),
        withKey(key),
      );

      expect(repeat.statusCode).toBe(200);
      expect(repeat.body).toBe(first.body);
      // The record keeps the seed of the batch's ids and its registration time, not every answer.
      const record = String(await redis.command('GET', idempotencyRedisKey(PREFIX, subject, key)));
      expect(Object.keys(JSON.parse(record).answer).sort()).toEqual(['registered_at', 'seed']);
      expect(record.length).toBeLessThan(300);
      expect(spelledOut.statusCode).toBe(200);
      expect(spelledOut.body).toBe(first.body);
      expect(await snapshot(subject)).toEqual(before);
      expect(await existing(jobIds(first))).toEqual(jobIds(first));
      // The job due at once ran once, however many times the batch was sent.
      await lines.waitFor((line) => line.endsWith('] idem c'));
      await sentinel();
      expect(lines.printed('idem c')).toHaveLength(1);
    });

    it('should refuse the same key with a different batch (409), storing nothing', async () => {
      const subject = newTenant('idem');
      const key = randomUUID();
      const items = [{ delay_seconds: 3600 }, { delay_seconds: 3600 }];
      expect((await batchOf(items, as(subject), withKey(key))).statusCode).toBe(201);
      const before = await snapshot(subject);

      const other = await batchOf([{ delay_seconds: 3600 }, { delay_seconds: 3599 }], as(subject), withKey(key));
      const reordered = await batchOf(
        [{ message: 'b', delay_seconds: 3600 }, { delay_seconds: 3600 }],
        as(subject),
        withKey(key),
      );
      const shorter = await batchOf([items[0]], as(subject), withKey(key));

      for (const response of [other, reordered, shorter]) {
        expect(response.statusCode).toBe(409);
        expect(response.json()).toEqual(KEY_REUSED);
      }
      expect(await snapshot(subject)).toEqual(before);
    });

    it('should treat /register and /register/batch under one key as different requests (409)', async () => {
      const subject = newTenant('idem');
      const registerKey = randomUUID();
      const batchKey = randomUUID();
      expect((await post(REGISTER, { delay_seconds: 3600 }, as(subject), withKey(registerKey))).statusCode).toBe(201);
      expect((await batchOf([{ delay_seconds: 3600 }], as(subject), withKey(batchKey))).statusCode).toBe(201);
      const before = await snapshot(subject);

      const batchAfterRegister = await batchOf([{ delay_seconds: 3600 }], as(subject), withKey(registerKey));
      const registerAfterBatch = await post(REGISTER, { delay_seconds: 3600 }, as(subject), withKey(batchKey));

      expect(batchAfterRegister.statusCode).toBe(409);
      expect(batchAfterRegister.json()).toEqual(KEY_REUSED);
      expect(registerAfterBatch.statusCode).toBe(409);
      expect(registerAfterBatch.json()).toEqual(KEY_REUSED);
      expect(await snapshot(subject)).toEqual(before);
    });

    it('should keep the keys of different tenants apart', async () => {
      const key = randomUUID();
      const items = [{ delay_seconds: 3600 }];

      const alice = await batchOf(items, as(newTenant('alice')), withKey(key));
      const bob = await batchOf(items, as(newTenant('bob')), withKey(key));

      expect([alice.statusCode, bob.statusCode]).toEqual([201, 201]);
      expect(jobIds(bob)).not.toEqual(jobIds(alice));
    });

    it('should store one batch for concurrent repeats, and answer all of them with it', async () => {
      const subject = newTenant('idem-race');
      const key = randomUUID();
      const items = [{ delay_seconds: 3600 }, { delay_seconds: 3600 }, { delay_seconds: 3600 }];
      const before = await storedJobs();

      const responses = await Promise.all(Array.from({ length: 10 }, () => batchOf(items, as(subject), withKey(key))));

      expect(responses.map((response) => response.statusCode).sort()).toEqual([...Array(9).fill(200), 201]);
      const created = responses.find((response) => response.statusCode === 201)!;
      for (const response of responses) expect(response.body).toBe(created.body);
      expect(await storedJobs()).toBe(before + 3);
      expect(await members(pendingKey(subject))).toEqual(jobIds(created).sort());
    });

    it('should give the key up when the batch is refused, so that a retry can store it', async () => {
      const subject = newTenant('idem-quota');
      const key = randomUUID();
      const filler = await batchOf(
        Array.from({ length: 8 }, () => ({ delay_seconds: 3600 })),
        as(subject),
      );
      const items = [{ delay_seconds: 3600 }, { delay_seconds: 3600 }, { delay_seconds: 3600 }];

      const refused = await batchOf(items, as(subject), withKey(key));
      expect(refused.statusCode).toBe(429);
      // Make room (a cancel), then retry the same request.
      expect(
        (await app.inject({ method: 'DELETE', url: `${JOBS}/${jobIds(filler)[0]}`, headers: as(subject) })).statusCode,
      ).toBe(204);
      const retried = await batchOf(items, as(subject), withKey(key));

      expect(retried.statusCode).toBe(201);
      expect(await existing(jobIds(retried))).toEqual(jobIds(retried));
    });
  });

  describe('tenants', () => {
    it("should hide alice's batch from bob, as unknown ids", async () => {
      const alice = newTenant('alice');
      const bob = newTenant('bob');
      const response = await batchOf([{ delay_seconds: 3600 }, { delay_seconds: 3600 }], as(alice));
      expect(response.statusCode).toBe(201);
      await batchOf([{ delay_seconds: 3600 }], as(bob));

      for (const jobId of jobIds(response)) {
        const seen = await getJob(jobId, as(bob));
        expect(seen.statusCode).toBe(404);
        expect(seen.json()).toEqual(NOT_FOUND);
        const cancelled = await app.inject({ method: 'DELETE', url: `${JOBS}/${jobId}`, headers: as(bob) });
        expect(cancelled.json()).toEqual(NOT_FOUND);
        expect((await getJob(jobId, as(alice))).statusCode).toBe(200);
        expect((await getJob(jobId, as('operator', ['read', 'admin']))).json().owner).toBe(alice);
      }
      const bobs = await listJobs(as(bob));
      expect(bobs).toHaveLength(1);
      expect(bobs).not.toContain(jobIds(response)[0]);
      expect((await listJobs(as(alice))).sort()).toEqual(jobIds(response).sort());
    });
  });

  describe('OpenAPI', () => {
    type Operation = {
      requestBody?: { required?: boolean; content: Record<string, { schema: { $ref?: string } }> };
      responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
      parameters?: { name: string; in: string }[];
      security?: unknown[];
    };
    type Schema = { properties?: Record<string, Record<string, unknown>>; required?: string[] };

    it('should document POST register/batch: its body, its answers and the Idempotency-Key', async () => {
      const response = await app.inject({ method: 'GET', url: '/docs-json' });
      expect(response.statusCode).toBe(200);
      const document = response.json<{
        paths: Record<string, Record<string, Operation>>;
        components: { schemas: Record<string, Schema> };
      }>();
      const schemaOf = (ref: string | undefined) =>
        document.components.schemas[ref!.replace('#/components/schemas/', '')];

      const operation = document.paths[BATCH]?.post;
      expect(operation).toBeDefined();
      const body = schemaOf(operation.requestBody?.content['application/json'].schema.$ref);
      expect(Object.keys(body.properties!)).toEqual(['jobs']);
      expect(body.required).toEqual(['jobs']);
      expect(body.properties!.jobs).toMatchObject({
        type: 'array',
        minItems: 1,
        items: { $ref: '#/components/schemas/RegisterJobDto' },
      });
      expect(body.properties!.jobs.description).toContain('JOB_BATCH_MAX_SIZE');

      expect(Object.keys(operation.responses)).toEqual(
        expect.arrayContaining(['200', '201', '400', '401', '403', '409', '413', '415', '429']),
      );
      for (const status of ['200', '201']) {
        const answer = schemaOf(operation.responses[status].content?.['application/json'].schema?.$ref);
        expect(answer.properties!.jobs).toMatchObject({
          type: 'array',
          items: { $ref: '#/components/schemas/RegisteredJobDto' },
        });
      }
      expect((operation.responses['413'] as { description?: string }).description).toContain('BATCH_BODY_LIMIT_BYTES');
      expect((operation.responses['429'] as { description?: string }).description).toContain(
        'Pending job quota exceeded',
      );
      expect(operation.parameters).toContainEqual(expect.objectContaining({ name: 'Idempotency-Key', in: 'header' }));
      expect(operation.security).toEqual(document.paths[REGISTER].post.security);
    });
  });
});
