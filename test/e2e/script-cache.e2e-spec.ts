// What a register or a batch answers when Redis has lost the service's register script but not BullMQ's add (a
// SCRIPT FLUSH after which another client loaded BullMQ's scripts again, a cache eviction): ioredis sends EVALSHA,
// Redis answers NOSCRIPT, and ioredis sends the script again after the commands that followed it. A batch's
// transaction runs its other commands (Redis does not roll one back), and a single job's add runs before its quota
// reservation. Whatever the answer, Redis ends up holding all of the request's jobs or none.
import type { Queue } from 'bullmq';
import { createHash, randomUUID } from 'node:crypto';
import type { TestApp } from '../support/app';
import { JobsApp, startJobsApp } from '../support/jobs-app';
import { JobLines } from '../support/job-lines';
import { RedisServer } from '../support/redis-server';
import { untilSentinelPrinted } from '../support/sentinel';
import { bearer, token } from '../support/tokens';
import { eventually } from '../support/wait';

jest.setTimeout(60_000);

const PREFIX = '{dm-jobqueue-script-cache}';
const QUOTA = 3;
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

describe('register and batches after Redis lost its scripts', () => {
  let fixture: JobsApp;
  let redis: RedisServer;
  let app: TestApp;
  let queue: Queue;
  let lines: JobLines;

  beforeAll(async () => {
    fixture = await startJobsApp({
      QUEUE_PREFIX: PREFIX,
      RATE_LIMIT_PER_MINUTE: '0',
      TENANT_MAX_PENDING_JOBS: String(QUOTA),
    });
    ({ redis, app, queue, lines } = fixture);
  });

  afterAll(() => fixture?.close());

  const post = (url: string, body: unknown, subject: string) =>
    app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...bearer(token({ subject })) },
      payload: JSON.stringify(body),
    });
  const jobKeys = async () =>
    ((await redis.command('KEYS', `${PREFIX}:jobs:*`)) as string[]).filter((key) => /:jobs:[0-9a-f-]{36}$/.test(key));
  const pending = async (subject: string) =>
    Number(await redis.command('ZCARD', `${PREFIX}:tenant:${sha256(subject)}:pending`));
  /** Job ids in the queue's wait and delayed lists. */
  /** Empties Redis's script cache, then loads BullMQ's delayed add again (another client adding a job). */
  const loseRegisterScript = async () => {
    expect(await redis.command('SCRIPT', 'FLUSH')).toBe('OK');
    const other = await queue.add('other', { message: 'other' }, { delay: 3_600_000 });
    await other.remove();
  };
  const queued = async () => [
    ...((await redis.command('LRANGE', `${PREFIX}:jobs:wait`, 0, -1)) as string[]),
    ...((await redis.command('ZRANGE', `${PREFIX}:jobs:delayed`, 0, -1)) as string[]),
  ];

  it('should store a batch whole or not at all when the scripts are gone', async () => {
    const subject = `flush-${randomUUID().slice(0, 8)}`;
    const before = (await jobKeys()).length;
    await loseRegisterScript();

    const answer = await post(
      '/api/dm-jobqueue/register/batch',
      {
        jobs: [
          { message: 'f1', delay_seconds: 3600 },
          { message: 'f2', delay_seconds: 3600 },
        ],
      },
      subject,
    );

    expect([201, 503]).toContain(answer.statusCode);
    const expected = answer.statusCode === 201 ? 2 : 0;
    await eventually(
      async () => ((await jobKeys()).length === before + expected ? true : undefined),
      5_000,
      `Redis to hold ${expected} of the batch's jobs`,
    );
    expect(await pending(subject)).toBe(expected);
    // Asking again works: the scripts are loaded again.
    expect(
      (await post('/api/dm-jobqueue/register/batch', { jobs: [{ delay_seconds: 3600 }] }, subject)).statusCode,
    ).toBe(201);
  });

  it('should leave no half-stored job when a single add runs ahead of its refused reservation', async () => {
    const subject = `full-${randomUUID().slice(0, 8)}`;
    for (let i = 0; i < QUOTA; i++) {
      expect((await post('/api/dm-jobqueue/register', { delay_seconds: 3600 }, subject)).statusCode).toBe(201);
    }
    const before = await queued();
    await loseRegisterScript();

    // Due in 2 s: a job due at once could be taken by the worker before its removal (the gap RELIABILITY.md names).
    const answer = await post('/api/dm-jobqueue/register', { message: 'over the quota', delay_seconds: 2 }, subject);

    expect([429, 503]).toContain(answer.statusCode);
    // Every id in the queue has its job (the reservation did not overwrite the job that ran ahead of it) ...
    for (const id of await queued()) expect(await redis.command('EXISTS', `${PREFIX}:jobs:${id}`)).toBe(1);
    // ... and that job is taken out again before it is due: the queue holds what it held.
    await eventually(
      async () => ((await queued()).length === before.length ? true : undefined),
      1_500,
      'the refused job to be gone from the queue before it is due',
      20,
    );
    expect(await pending(subject)).toBe(QUOTA);
    // A sentinel due after it: the refused job never printed.
    await untilSentinelPrinted(
      (body) => post('/api/dm-jobqueue/register', body, 'sentinel'),
      (message) => lines.printed(message).length,
      3,
    );
    expect(lines.printed('over the quota')).toEqual([]);
  });
});
