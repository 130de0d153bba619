// SPEC 6.4 + 5.5: POST /api/dm-jobqueue/register/batch stores all of a batch or none of it, also when Redis is killed
// or frozen under it (real AppModule, private redis-server with an AOF fsynced on every write, so that what Redis
// stored survives its restart and "nothing stored" is not the restart's doing).
import type { Queue } from 'bullmq';
import { createHash, randomUUID } from 'node:crypto';
import type { TestApp } from '../support/app';
import { JobsApp, startJobsApp } from '../support/jobs-app';
import { JobLines } from '../support/job-lines';
import { storedJobs } from '../support/queue';
import { RedisServer } from '../support/redis-server';
import { untilSentinelPrinted } from '../support/sentinel';
import { bearer, token } from '../support/tokens';
import { eventually } from '../support/wait';

jest.setTimeout(60_000);

const REGISTER = '/api/dm-jobqueue/register';
const BATCH = '/api/dm-jobqueue/register/batch';
const PREFIX = `{dm-jobqueue-batch-outage-${randomUUID().slice(0, 8)}}`;
const UNAVAILABLE = { statusCode: 503, message: 'Job queue is unavailable', error: 'Service Unavailable' };

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const newTenant = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;
const as = (subject: string) => bearer(token({ subject }));

describe('POST /api/dm-jobqueue/register/batch while Redis fails', () => {
  let fixture: JobsApp;
  let redis: RedisServer;
  let app: TestApp;
  let queue: Queue;
  let lines: JobLines;

  beforeAll(async () => {
    fixture = await startJobsApp(
      { QUEUE_PREFIX: PREFIX, REDIS_TIMEOUT_MS: '300', RATE_LIMIT_PER_MINUTE: '0' },
      { args: ['--appendonly', 'yes', '--appendfsync', 'always'] },
    );
    ({ redis, app, queue, lines } = fixture);
  });

  afterAll(() => fixture?.close());

  const post = (url: string, body: unknown, auth: Record<string, string>) =>
    app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...auth },
      payload: JSON.stringify(body),
    });
  const batchOf = (jobs: unknown[], auth: Record<string, string>) => post(BATCH, { jobs }, auth);
  const items = (count: number, message: string, delaySeconds: number) =>
    Array.from({ length: count }, () => ({ message, delay_seconds: delaySeconds }));
  const jobIds = (response: { json: () => { jobs: { job_id: string }[] } }) =>
    response.json().jobs.map((job) => job.job_id);

  /** How many of `ids` have a job hash in Redis. */
  const existing = async (ids: string[]) =>
    Number(await redis.command('EXISTS', ...ids.map((id) => `${PREFIX}:jobs:${id}`)));
  const zcard = async (key: string) => Number(await redis.command('ZCARD', key));
  /** What Redis holds: every job, and `subject`'s pending set and index; the global index. */
  const snapshot = async (subject: string) => ({
    stored: await storedJobs(queue),
    pending: await zcard(`${PREFIX}:tenant:${sha256(subject)}:pending`),
    tenantIndex: await zcard(`${PREFIX}:tenant:${sha256(subject)}:jobs`),
    globalIndex: await zcard(`${PREFIX}:jobs`),
  });

  /** BullMQ's "removed" events so far, from the queue's event stream. */
  const removedEvents = async () => {
    const entries = (await redis.command('XRANGE', `${PREFIX}:jobs:events`, '-', '+')) as [string, string[]][];
    return entries.filter(([, fields]) => fields[0] === 'event' && fields[1] === 'removed').length;
  };

  const sentinelAuth = as('sentinel');
  /** A job due `delaySeconds` after now has been printed: any batch job due before it would have been too. */
  const sentinel = (delaySeconds: number) =>
    untilSentinelPrinted(
      (body) => post(REGISTER, body, sentinelAuth),
      (message) => lines.printed(message).length,
      delaySeconds,
    );

  /** Redis back and the service ready again; this spec's own queue client reconnected too. */
  const restarted = async () => {
    await redis.restart();
    await app.untilReady();
    await storedJobs(queue);
  };

  let kept: string[] = [];

  it('should store every job of a large batch', async () => {
    const subject = newTenant('large');
    const before = await snapshot(subject);

    const response = await batchOf(items(500, 'large batch', 3600), as(subject));

    expect(response.statusCode).toBe(201);
    kept = jobIds(response);
    expect(new Set(kept).size).toBe(500);
    expect(await existing(kept)).toBe(500);
    expect(await snapshot(subject)).toEqual({
      stored: before.stored + 500,
      pending: 500,
      tenantIndex: 500,
      globalIndex: before.globalIndex + 500,
    });
  });

  it('should answer 503 with Retry-After while Redis is down, and store nothing of the batch once it is back', async () => {
    const subject = newTenant('down');
    const before = await snapshot(subject);
    await redis.kill();
    try {
      const response = await batchOf(items(10, 'while down', 1), as(subject));

      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual(UNAVAILABLE);
      expect(response.headers['retry-after']).toBe('5');
    } finally {
      await restarted();
    }
    // What was stored before the outage is still there (the AOF), and nothing of the refused batch.
    expect(await existing(kept)).toBe(kept.length);
    expect(await snapshot(subject)).toEqual(before);
    await sentinel(2);
    expect(lines.printed('while down')).toHaveLength(0);
  });

  it('should answer 503 when Redis is killed while the batch is on its way, and store none of it', async () => {
    const subject = newTenant('killed');
    const before = await snapshot(subject);

    const sending = batchOf(items(1000, 'killed under it', 1), as(subject));
    const killing = redis.kill();
    let response: Awaited<typeof sending>;
    try {
      [response] = await Promise.all([sending, killing]);
    } finally {
      await restarted();
    }

    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual(UNAVAILABLE);
    expect(response.headers['retry-after']).toBe('5');
    expect(await existing(kept)).toBe(kept.length);
    expect(await snapshot(subject)).toEqual(before);
    await sentinel(2);
    expect(lines.printed('killed under it')).toHaveLength(0);
  });

  it('should store a batch again once Redis is back', async () => {
    const subject = newTenant('after');

    const response = await batchOf(items(20, 'after the outage', 3600), as(subject));

    expect(response.statusCode).toBe(201);
    expect(await existing(jobIds(response))).toBe(20);
  });

  it('should answer 503 when Redis freezes under a large batch, and remove the jobs once it wakes up', async () => {
    const subject = newTenant('frozen');
    const before = await snapshot(subject);
    const removedBefore = await removedEvents();

    const sending = batchOf(items(500, 'frozen under it', 2), as(subject));
    redis.freeze();
    let response: Awaited<typeof sending>;
    try {
      response = await sending;
    } finally {
      redis.resume();
    }

    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual(UNAVAILABLE);
    expect(response.headers['retry-after']).toBe('5');
    // The transaction was written to the frozen Redis's socket: it runs when Redis wakes up, and the service then
    // takes every job of it out again, before they fall due.
    let last: unknown;
    await eventually(
      async () => {
        const now = await snapshot(subject);
        last = { ...now, printed: lines.printed('frozen under it').length };
        return JSON.stringify(now) === JSON.stringify(before) ? true : undefined;
      },
      15_000,
      () => `the orphaned batch to be removed: ${JSON.stringify({ before, last })}`,
    );
    // It did reach Redis, and was taken out job by job: BullMQ's "removed" event for each.
    expect((await removedEvents()) - removedBefore).toBe(500);
    await app.untilReady();
    // Due after the batch's jobs would have been, so printed only after they would have been.
    await sentinel(3);
    expect(lines.printed('frozen under it')).toHaveLength(0);
    expect(await snapshot(subject)).toEqual({
      ...before,
      stored: before.stored + 1,
      globalIndex: before.globalIndex + 1,
    });
  });
});
