// SPEC 6.1 through the real AppModule: GET and DELETE /api/dm-jobqueue/jobs/:job_id, and Idempotency-Key
// on register, against a private redis-server (the last tests stop and freeze it).
import { Job, Queue, Worker } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { JobProcessor } from '../../src/jobs/worker/job.processor';
import type { TestApp } from '../support/app';
import { JobsApp, startJobsApp } from '../support/jobs-app';
import { JobLines } from '../support/job-lines';
import { manualWorker, storedJobs } from '../support/queue';
import { RedisServer } from '../support/redis-server';
import { untilSentinelPrinted } from '../support/sentinel';
import { bearer, token } from '../support/tokens';
import { eventually } from '../support/wait';

jest.setTimeout(30_000);

const REGISTER = '/api/dm-jobqueue/register';
const JOBS = '/api/dm-jobqueue/jobs';
const PREFIX = '{dm-jobqueue-jobs-api}';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const NOT_FOUND = { statusCode: 404, message: 'Job not found', error: 'Not Found' };
const RUNNING = { statusCode: 409, message: 'Job is running', error: 'Conflict' };
const FINISHED = { statusCode: 409, message: 'Job has already finished', error: 'Conflict' };
const UNAVAILABLE = { statusCode: 503, message: 'Job queue is unavailable', error: 'Service Unavailable' };
const KEY_REUSED = {
  statusCode: 409,
  message: 'Idempotency-Key was already used with a different request',
  error: 'Conflict',
};
const BAD_KEY = {
  statusCode: 400,
  message: 'Idempotency-Key must be 1 to 255 printable ASCII characters',
  error: 'Bad Request',
};

const readOnly = bearer(token({ scope: ['read'] }));
const writeOnly = bearer(token({ scope: ['write'] }));

describe('Job API and Idempotency-Key', () => {
  let fixture: JobsApp;
  let redis: RedisServer;
  let app: TestApp;
  let queue: Queue;
  let lines: JobLines;

  beforeAll(async () => {
    // No rate limit: the concurrency test sends many requests with one token.
    fixture = await startJobsApp({ QUEUE_PREFIX: PREFIX, REDIS_TIMEOUT_MS: '500', RATE_LIMIT_PER_MINUTE: '0' });
    ({ redis, app, queue, lines } = fixture);
  });

  afterAll(() => fixture?.close());

  const register = (body: object = {}, headers: Record<string, string> = {}, auth = bearer()) =>
    app.inject({
      method: 'POST',
      url: REGISTER,
      headers: { 'content-type': 'application/json', ...auth, ...headers },
      payload: JSON.stringify(body),
    });
  const getJob = (jobId: string, auth = bearer()) =>
    app.inject({ method: 'GET', url: `${JOBS}/${jobId}`, headers: auth });
  const deleteJob = (jobId: string, auth = bearer()) =>
    app.inject({ method: 'DELETE', url: `${JOBS}/${jobId}`, headers: auth });
  const linesWith = (message: string) => lines.printed(message);
  /** Resolves once a job registered now, due in `delaySeconds`, has been printed: the worker was alive until then. */
  const sentinel = (delaySeconds = 0) =>
    untilSentinelPrinted(register, (message) => linesWith(message).length, delaySeconds);

  /** The app's own worker, paused so that a test decides which worker (if any) takes a job. */
  const appWorker = () => app.app.get(JobProcessor).worker;

  describe('GET /api/dm-jobqueue/jobs/:job_id', () => {
    it('should show a delayed job as it was registered', async () => {
      const created = (await register({ message: 'later', delay_seconds: 3600, max_retry: 2 })).json();

      const response = await getJob(created.job_id);

      expect(response.statusCode).toBe(200);
      const job = response.json();
      expect(job).toEqual({
        job_id: created.job_id,
        owner: 'e2e',
        schedule_id: null,
        state: 'delayed',
        message: 'later',
        delay_seconds: 3600,
        max_retry: 2,
        attempts_made: 0,
        created_at: expect.stringMatching(ISO),
        run_at: created.run_at,
        expires_at: null,
        processed_at: null,
        finished_at: null,
        failed_reason: null,
      });
      expect(Date.parse(job.run_at) - Date.parse(job.created_at)).toBe(3_600_000);
    });

    it('should find a job by its id in upper case too', async () => {
      const created = (await register({ delay_seconds: 3600 })).json();

      const response = await getJob(created.job_id.toUpperCase());

      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ job_id: created.job_id, state: 'delayed' });
    });

    it('should show a job that has run as completed', async () => {
      const message = `ran ${randomUUID()}`;
      const created = (await register({ message, delay_seconds: 0, max_retry: 1 })).json();
      await lines.waitFor((line) => line.endsWith(`] ${message}`));

      const job = await eventually(
        async () => {
          const body = (await getJob(created.job_id)).json();
          return body.state === 'completed' ? body : undefined;
        },
        5_000,
        'the job to complete',
      );

      expect(job).toEqual({
        job_id: created.job_id,
        owner: 'e2e',
        schedule_id: null,
        state: 'completed',
        message,
        delay_seconds: 0,
        max_retry: 1,
        attempts_made: 1,
        created_at: expect.stringMatching(ISO),
        run_at: job.created_at,
        expires_at: null,
        processed_at: expect.stringMatching(ISO),
        finished_at: expect.stringMatching(ISO),
        failed_reason: null,
      });
      expect(Date.parse(job.finished_at)).toBeGreaterThanOrEqual(Date.parse(job.processed_at));
      // Finished jobs cannot be cancelled, and stay readable.
      expect((await deleteJob(created.job_id)).json()).toEqual(FINISHED);
      expect((await getJob(created.job_id)).statusCode).toBe(200);
    });

    it.each([
      ['an unknown id', randomUUID()],
      ['an id that is not a UUID', 'abc'],
      ['a UUID of another version', '0b8f4c2e-7a1d-1e3b-9c5f-1a2b3c4d5e6f'],
      ['a job key suffix', `${randomUUID()}:lock`],
      ['an encoded space', '%20'],
      ['a glob', '*'],
      ['an id of 500 characters', 'a'.repeat(500)],
    ])('should answer 404 for %s', async (_, jobId) => {
      const response = await getJob(jobId);

      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual(NOT_FOUND);
    });

    it('should answer 401 without a token', async () => {
      const response = await app.inject({ method: 'GET', url: `${JOBS}/${randomUUID()}` });

      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({
        statusCode: 401,
        message: 'Authorization header is required',
        error: 'Unauthorized',
      });
      expect(response.headers['www-authenticate']).toBe('Bearer realm="dm-jobqueue"');
    });

    it('should answer 403 to a token without the read scope', async () => {
      const created = (await register({ delay_seconds: 3600 })).json();

      const response = await getJob(created.job_id, writeOnly);

      expect(response.statusCode).toBe(403);
      expect(response.json()).toEqual({ statusCode: 403, message: 'Insufficient scope', error: 'Forbidden' });
    });
  });

  describe('DELETE /api/dm-jobqueue/jobs/:job_id', () => {
    it('should cancel a delayed job, which then never runs', async () => {
      const message = `cancelled ${randomUUID()}`;
      const created = (await register({ message, delay_seconds: 1 })).json();

      const response = await deleteJob(created.job_id);

      expect(response.statusCode).toBe(204);
      expect(response.body).toBe('');
      await sentinel(2); // a job due a second after it has run
      expect(linesWith(message)).toEqual([]);
      expect((await getJob(created.job_id)).json()).toEqual(NOT_FOUND);
      expect(await queue.getJob(created.job_id)).toBeUndefined(); // nothing left in Redis
      expect((await deleteJob(created.job_id)).json()).toEqual(NOT_FOUND);
    });

    it('should cancel a waiting job before a worker takes it', async () => {
      const message = `waiting ${randomUUID()}`;
      await appWorker().pause();
      try {
        const created = (await register({ message, delay_seconds: 0 })).json();
        expect((await getJob(created.job_id)).json()).toMatchObject({ state: 'waiting' });

        const response = await deleteJob(created.job_id);

        expect(response.statusCode).toBe(204);
        expect((await getJob(created.job_id)).json()).toEqual(NOT_FOUND);
      } finally {
        appWorker().resume();
      }
      await sentinel(); // registered after it, so taken after it
      expect(linesWith(message)).toEqual([]);
    });

    it('should refuse to cancel a running job, and leave it to finish', async () => {
      // Another worker (as in another process) takes the job while the app's own worker is paused.
      const other = manualWorker(redis.url, PREFIX);
      const lockToken = randomUUID();
      await appWorker().pause();
      try {
        const created = (await register({ message: 'held', delay_seconds: 0, max_retry: 0 })).json();
        const job = (await other.getNextJob(lockToken)) as Job;
        expect(job.id).toBe(created.job_id);

        const running = await getJob(created.job_id);
        expect(running.json()).toEqual({
          job_id: created.job_id,
          owner: 'e2e',
          schedule_id: null,
          state: 'active',
          message: 'held',
          delay_seconds: 0,
          max_retry: 0,
          attempts_made: 0,
          created_at: expect.stringMatching(ISO),
          run_at: expect.stringMatching(ISO),
          expires_at: null,
          processed_at: expect.stringMatching(ISO),
          finished_at: null,
          failed_reason: null,
        });

        const refused = await deleteJob(created.job_id);
        expect(refused.statusCode).toBe(409);
        expect(refused.json()).toEqual(RUNNING);
        expect((await getJob(created.job_id)).json()).toMatchObject({ state: 'active' });

        await job.moveToFailed(new Error('boom'), lockToken);
        const failed = (await getJob(created.job_id)).json();
        expect(failed).toEqual({
          ...running.json(),
          state: 'failed',
          attempts_made: 1,
          finished_at: expect.stringMatching(ISO),
          failed_reason: 'boom',
        });
        const again = await deleteJob(created.job_id);
        expect(again.statusCode).toBe(409);
        expect(again.json()).toEqual(FINISHED);
      } finally {
        appWorker().resume();
        await other.close();
      }
    });

    it.each([
      ['an unknown id', randomUUID()],
      ['a malformed id', 'not-a-job'],
      ['an id of 500 characters', 'a'.repeat(500)],
    ])('should answer 404 for %s', async (_, jobId) => {
      const response = await deleteJob(jobId);

      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual(NOT_FOUND);
    });

    it('should answer 403 to a read-only token, and leave the job alone', async () => {
      const created = (await register({ delay_seconds: 3600 })).json();

      const response = await deleteJob(created.job_id, readOnly);

      expect(response.statusCode).toBe(403);
      expect(response.json()).toEqual({ statusCode: 403, message: 'Insufficient scope', error: 'Forbidden' });
      expect((await getJob(created.job_id)).json()).toMatchObject({ state: 'delayed' });
    });

    it('should answer 401 without a token', async () => {
      const response = await app.inject({ method: 'DELETE', url: `${JOBS}/${randomUUID()}` });

      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({
        statusCode: 401,
        message: 'Authorization header is required',
        error: 'Unauthorized',
      });
    });
  });

  describe('Idempotency-Key on register', () => {
    const withKey = (key: string) => ({ 'idempotency-key': key });

    it('should answer a repeat with the first job (200) and store nothing new', async () => {
      const key = randomUUID();
      const first = await register({ message: 'once', delay_seconds: 3600 }, withKey(key));
      const before = await storedJobs(queue);

      const repeat = await register({ message: 'once', delay_seconds: 3600 }, withKey(key));

      expect(first.statusCode).toBe(201);
      expect(first.json()).toEqual({
        job_id: expect.stringMatching(UUID_V4),
        status: 'registered',
        delay_seconds: 3600,
        max_retry: 10,
        run_at: expect.stringMatching(ISO),
        expires_at: null,
      });
      expect(repeat.statusCode).toBe(200);
      expect(repeat.json()).toEqual(first.json());
      expect(await storedJobs(queue)).toBe(before);
    });

    it('should treat a body and the same body with its defaults spelled out as the same request', async () => {
      const key = randomUUID();
      const first = await register({}, withKey(key));

      const repeat = await register({ message: null, delay_seconds: 180, max_retry: 10 }, withKey(key));

      expect(first.statusCode).toBe(201);
      expect(repeat.statusCode).toBe(200);
      expect(repeat.json()).toEqual(first.json());
    });

    it('should refuse the same key with a different body', async () => {
      const key = randomUUID();
      expect((await register({ delay_seconds: 3600 }, withKey(key))).statusCode).toBe(201);
      const before = await storedJobs(queue);

      const response = await register({ delay_seconds: 3599 }, withKey(key));

      expect(response.statusCode).toBe(409);
      expect(response.json()).toEqual(KEY_REUSED);
      expect(await storedJobs(queue)).toBe(before);
    });

    it('should keep the keys of different token subjects apart', async () => {
      const key = randomUUID();
      const alice = await register({ delay_seconds: 3600 }, withKey(key), bearer(token({ subject: 'alice' })));

      const bob = await register({ delay_seconds: 3600 }, withKey(key), bearer(token({ subject: 'bob' })));

      expect(alice.statusCode).toBe(201);
      expect(bob.statusCode).toBe(201);
      expect(bob.json().job_id).not.toBe(alice.json().job_id);
    });

    it('should store exactly one job for 20 concurrent repeats, and answer all of them with it', async () => {
      const key = randomUUID();
      const before = await storedJobs(queue);

      const responses = await Promise.all(
        Array.from({ length: 20 }, () => register({ message: 'concurrent', delay_seconds: 3600 }, withKey(key))),
      );

      expect(await storedJobs(queue)).toBe(before + 1);
      expect(new Set(responses.map((response) => response.json().job_id)).size).toBe(1);
      expect(responses.map((response) => response.statusCode).sort()).toEqual([...Array(19).fill(200), 201]);
      const created = responses.find((response) => response.statusCode === 201)!.json();
      for (const response of responses) expect(response.json()).toEqual(created);
    });

    it('should store a job without a key each time, as before', async () => {
      const first = await register({ delay_seconds: 3600 });
      const second = await register({ delay_seconds: 3600 });

      expect([first.statusCode, second.statusCode]).toEqual([201, 201]);
      expect(second.json().job_id).not.toBe(first.json().job_id);
    });

    it.each([
      ['an empty key', ''],
      ['a key of 256 characters', 'k'.repeat(256)],
      ['a key with a tab', 'a\tb'],
      ['a key beyond ASCII', 'clé'],
    ])('should refuse %s with 400', async (_, key) => {
      const before = await storedJobs(queue);

      const response = await register({}, withKey(key));

      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual(BAD_KEY);
      expect(await storedJobs(queue)).toBe(before);
    });

    it('should accept a key of 255 printable characters', async () => {
      const response = await register({}, withKey(`${'k'.repeat(250)} ~!@#`));

      expect(response.statusCode).toBe(201);
    });

    it('should not store the key or the token subject in Redis', async () => {
      const key = `order-${randomUUID()}`;
      expect((await register({}, withKey(key), bearer(token({ subject: 'subject-in-clear' })))).statusCode).toBe(201);

      const keys = (await redis.command('KEYS', `${PREFIX}:idempotency:*`)) as string[];
      const values = await Promise.all(keys.map((name) => redis.command('GET', name)));
      expect(keys.length).toBeGreaterThan(0);
      for (const text of [...keys, ...values.map(String)]) {
        expect(text).not.toContain(key);
        expect(text).not.toContain('subject-in-clear');
      }
    });
  });

  describe('while Redis is away', () => {
    it('should answer 503 with Retry-After when Redis is frozen, within about REDIS_TIMEOUT_MS', async () => {
      const created = (await register({ delay_seconds: 3600 })).json();
      redis.freeze();
      try {
        for (const send of [
          () => getJob(created.job_id),
          () => deleteJob(created.job_id),
          () => register({ delay_seconds: 3600 }, { 'idempotency-key': randomUUID() }),
        ]) {
          const started = performance.now();
          const response = await send();

          expect(response.statusCode).toBe(503);
          expect(response.json()).toEqual(UNAVAILABLE);
          expect(response.headers['retry-after']).toBe('5');
          expect(performance.now() - started).toBeLessThan(1_000);
        }
      } finally {
        redis.resume();
      }
      // The frozen DELETE reached Redis when it woke up: the job was cancelled after all.
      await eventually(async () => ((await getJob(created.job_id)).statusCode === 404 ? true : undefined), 5_000);
    });

    it('should answer 503 at once while Redis is stopped, and 404 for a malformed id without asking it', async () => {
      const created = (await register({ delay_seconds: 3600 })).json();
      await redis.stop();
      try {
        for (const send of [
          () => getJob(created.job_id),
          () => deleteJob(created.job_id),
          () => register({}, { 'idempotency-key': randomUUID() }),
        ]) {
          const response = await send();

          expect(response.statusCode).toBe(503);
          expect(response.json()).toEqual(UNAVAILABLE);
          expect(response.headers['retry-after']).toBe('5');
        }
        expect((await getJob('not-a-job')).json()).toEqual(NOT_FOUND);
        expect((await deleteJob('not-a-job')).json()).toEqual(NOT_FOUND);
      } finally {
        await redis.restart();
        await app.untilReady();
        // This spec's own queue client reconnects too; closing it mid-reconnect would leave its retry timer.
        await storedJobs(queue);
      }
    });
  });
});
