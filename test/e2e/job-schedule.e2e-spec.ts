// SPEC 5.2 and 6.4 through the real AppModule: run_at and expires_at on register, and PATCH /jobs/:job_id, against a
// private redis-server, with JOB_MAX_DELAY_SECONDS at one hour.
import { Job, Queue, Worker } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { JobProcessor } from '../../src/jobs/worker/job.processor';
import type { TestApp } from '../support/app';
import { JobsApp, startJobsApp } from '../support/jobs-app';
import { JobLines } from '../support/job-lines';
import { manualWorker, SERVICE_QUEUE, storedJobs } from '../support/queue';
import { RedisServer } from '../support/redis-server';
import { untilSentinelPrinted } from '../support/sentinel';
import { bearer, token } from '../support/tokens';
import { eventually, sleep } from '../support/wait';

jest.setTimeout(60_000);

const REGISTER = '/api/dm-jobqueue/register';
const JOBS = '/api/dm-jobqueue/jobs';
const PREFIX = '{dm-jobqueue-schedule}';
const DELAYED_KEY = `${PREFIX}:${SERVICE_QUEUE}:delayed`;
const WAIT_KEY = `${PREFIX}:${SERVICE_QUEUE}:wait`;
const MAX_DELAY_SECONDS = 3600;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** How late a job may print after it is due, on a loaded two-core machine: generous on purpose. */
const LATE_MS = 3_000;
const EXPIRED_REASON = 'Job expired before it started';

const NOT_FOUND = { statusCode: 404, message: 'Job not found', error: 'Not Found' };
const RUNNING = { statusCode: 409, message: 'Job is running', error: 'Conflict' };
const FINISHED = { statusCode: 409, message: 'Job has already finished', error: 'Conflict' };
const EXPIRED = { statusCode: 409, message: 'Job has expired', error: 'Conflict' };
const FORBIDDEN = { statusCode: 403, message: 'Insufficient scope', error: 'Forbidden' };
const badRequest = (message: string | string[]) => ({ statusCode: 400, message, error: 'Bad Request' });

const instantMessage = (field: string) =>
  `${field} must be an RFC 3339 date-time with Z or an offset, such as 2026-12-01T09:00:00Z or 2026-12-01T18:00:00+09:00`;
const EXCLUSIVE = 'delay_seconds and run_at are mutually exclusive: give one of them';
const REQUIRED = 'delay_seconds or run_at is required';
const TOO_FAR = `run_at must not be more than ${MAX_DELAY_SECONDS} seconds ahead (JOB_MAX_DELAY_SECONDS)`;
const DELAY_TOO_LONG = `delay_seconds must not be greater than ${MAX_DELAY_SECONDS}`;
const EXPIRES_TOO_SOON = 'expires_at must be after the time the job is due';
const AFTER_EXPIRY = "the new time must be before the job's expires_at";

const readOnly = bearer(token({ scope: ['read'] }));
const admin = bearer(token({ subject: 'ops', scope: ['read', 'write', 'admin'] }));

/** `ms` as an RFC 3339 date-time to the millisecond, in the zone `offset` ("Z", or such as "+09:00"). */
function rfc3339(ms: number, offset = 'Z'): string {
  if (offset === 'Z') return new Date(ms).toISOString();
  const [, sign, hours, minutes] = /^([+-])(\d{2}):(\d{2})$/.exec(offset)!;
  const shift = (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes)) * 60_000;
  return `${new Date(ms + shift).toISOString().slice(0, 23)}${offset}`;
}

const unique = (what: string) => `${what} ${randomUUID().slice(0, 8)}`;

describe('run_at, expires_at and PATCH /jobs/:job_id', () => {
  let fixture: JobsApp;
  let redis: RedisServer;
  let app: TestApp;
  let queue: Queue;
  let lines: JobLines;

  beforeAll(async () => {
    // No rate limit: the race test sends many requests with one token.
    fixture = await startJobsApp({
      QUEUE_PREFIX: PREFIX,
      JOB_MAX_DELAY_SECONDS: String(MAX_DELAY_SECONDS),
      RATE_LIMIT_PER_MINUTE: '0',
    });
    ({ redis, app, queue, lines } = fixture);
  });

  afterAll(() => fixture?.close());

  const register = (body: unknown = {}, auth = bearer()) =>
    app.inject({
      method: 'POST',
      url: REGISTER,
      headers: { 'content-type': 'application/json', ...auth },
      payload: JSON.stringify(body),
    });
  const getJob = (jobId: string, auth = bearer()) =>
    app.inject({ method: 'GET', url: `${JOBS}/${jobId}`, headers: auth });
  const view = async (jobId: string, auth = bearer()) => (await getJob(jobId, auth)).json();
  const patch = (jobId: string, body: unknown, auth = bearer()) =>
    app.inject({
      method: 'PATCH',
      url: `${JOBS}/${jobId}`,
      headers: { 'content-type': 'application/json', ...auth },
      payload: JSON.stringify(body),
    });
  const printed = (message: string) => lines.printed(message);
  /** Resolves once a job registered now, due in `delaySeconds`, has been printed: the worker was alive until then. */
  const sentinel = (delaySeconds = 0) =>
    untilSentinelPrinted(register, (message) => printed(message).length, delaySeconds);
  const untilPrinted = (message: string) => lines.waitFor((line) => line.endsWith(`] ${message}`), 1, 15_000);
  /** The job's view once `check` accepts it. */
  const untilView = (jobId: string, check: (job: Record<string, unknown>) => boolean, what: string) =>
    eventually(
      async () => {
        const job = await view(jobId);
        return check(job) ? job : undefined;
      },
      15_000,
      what,
    );
  /** Registers a job that must be accepted, and answers its register answer. */
  const registered = async (body: object, auth = bearer()) => {
    const response = await register(body, auth);
    expect(response.statusCode).toBe(201);
    return response.json();
  };

  /** The app's own worker, paused so that a test decides which worker (if any) takes a job. */
  const appWorker = () => app.app.get(JobProcessor).worker;

  describe('run_at on register', () => {
    it('should run a job at a run_at ~2 s ahead, not before it and not long after', async () => {
      const message = unique('run_at ahead');
      const runAt = Date.now() + 2_500;

      const response = await register({ message, run_at: rfc3339(runAt) });

      expect(response.statusCode).toBe(201);
      const created = response.json();
      expect(created).toEqual({
        job_id: expect.any(String),
        status: 'registered',
        delay_seconds: expect.any(Number),
        max_retry: 10,
        run_at: new Date(runAt).toISOString(),
        expires_at: null,
      });
      const delayed = await view(created.job_id);
      expect(delayed).toMatchObject({ state: 'delayed', run_at: created.run_at, delay_seconds: created.delay_seconds });
      // Whole seconds from registration to the due time, rounded up.
      expect(created.delay_seconds).toBe(Math.ceil((runAt - Date.parse(delayed.created_at)) / 1_000));
      expect([2, 3]).toContain(created.delay_seconds);

      await untilPrinted(message);
      const done = await untilView(created.job_id, (job) => job.state === 'completed', 'the job to complete');
      expect(Date.parse(done.processed_at)).toBeGreaterThanOrEqual(runAt);
      expect(Date.parse(done.processed_at)).toBeLessThan(runAt + LATE_MS);
      expect(done.run_at).toBe(created.run_at);
      expect(printed(message)).toHaveLength(1);
    });

    it('should run a job whose run_at has passed (given with an offset) now, due at its registration', async () => {
      const message = unique('run_at past');
      const runAt = rfc3339(Date.now() - 3_600_000, '+09:00');
      expect(runAt).toMatch(/\+09:00$/);

      const response = await register({ message, run_at: runAt });

      expect(response.statusCode).toBe(201);
      const created = response.json();
      expect(created).toMatchObject({ delay_seconds: 0, run_at: expect.stringMatching(ISO), expires_at: null });
      await untilPrinted(message);
      const done = await untilView(created.job_id, (job) => job.state === 'completed', 'the job to complete');
      expect(done.run_at).toBe(done.created_at);
      expect(done.run_at).toBe(created.run_at);
      expect(done.delay_seconds).toBe(0);
      expect(Date.parse(done.processed_at) - Date.parse(done.created_at)).toBeLessThan(LATE_MS);
    });

    it('should read the same instant from any offset, either letter case, and cut a fraction to the millisecond', async () => {
      // A whole second half an hour ahead: within JOB_MAX_DELAY_SECONDS; the jobs just wait.
      const instant = Math.ceil((Date.now() + 1_800_000) / 1_000) * 1_000;
      const zulu = new Date(instant).toISOString().slice(0, 19); // "YYYY-MM-DDTHH:mm:ss"
      const tokyo = rfc3339(instant, '+09:00').replace('.000', ''); // "...T18:00:00+09:00" for "...T09:00:00Z"
      const expected = new Date(instant).toISOString();
      const forms = [
        `${zulu}Z`,
        tokyo,
        rfc3339(instant, '-05:30').replace('.000', ''),
        `${zulu}+00:00`,
        `${zulu}-00:00`,
        `${zulu}z`.replace('T', 't'),
        tokyo.replace('T', 't'),
      ];
      expect(tokyo).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+09:00$/);
      expect(Date.parse(tokyo)).toBe(instant);

      for (const runAt of forms) {
        const response = await register({ run_at: runAt });
        expect({ runAt, status: response.statusCode, run_at: response.json().run_at }).toEqual({
          runAt,
          status: 201,
          run_at: expected,
        });
      }
      for (const [fraction, ms] of [
        ['.5', 500],
        ['.250', 250],
        ['.123456789', 123],
        ['.9999', 999],
      ] as const) {
        const created = await registered({ run_at: `${zulu}${fraction}Z` });
        expect({ fraction, run_at: created.run_at }).toEqual({
          fraction,
          run_at: new Date(instant + ms).toISOString(),
        });
        const viewed = await view(created.job_id);
        expect(viewed.run_at).toBe(created.run_at);
      }
    });

    it('should accept a run_at just inside JOB_MAX_DELAY_SECONDS', async () => {
      const runAt = Date.now() + (MAX_DELAY_SECONDS - 60) * 1_000;

      const created = await registered({ run_at: rfc3339(runAt, '+02:00') });

      expect(created.run_at).toBe(new Date(runAt).toISOString());
      expect(created.delay_seconds).toBeGreaterThanOrEqual(MAX_DELAY_SECONDS - 61);
      expect(created.delay_seconds).toBeLessThanOrEqual(MAX_DELAY_SECONDS - 60);
    });
  });

  describe('Unicode that is not text', () => {
    it('should refuse a message holding a lone surrogate, storing nothing', async () => {
      const before = await storedJobs(queue);

      const refused = await register({ message: 'bad \ud800 surrogate' });

      expect(refused.statusCode).toBe(400);
      expect(refused.json().message).toEqual(['message must be Unicode text: it holds a lone UTF-16 surrogate']);
      expect(await storedJobs(queue)).toBe(before);
    });

    it("should refuse a token whose sub holds a lone surrogate (it would share another tenant's keys)", async () => {
      const answer = await register({}, bearer(token({ subject: 'm\ud800' })));

      expect(answer.statusCode).toBe(401);
      expect(answer.json().message).toBe('Invalid token');
    });
  });

  describe('refused registrations', () => {
    const refused = bearer(token({ subject: 'refused' }));
    const ahead = (seconds: number) => Date.now() + seconds * 1_000;
    const year = new Date().getUTCFullYear() + 1;
    const today = new Date().toISOString().slice(0, 10);

    it.each<[string, () => Record<string, unknown>, string[]]>([
      ['both run_at and delay_seconds', () => ({ run_at: rfc3339(ahead(60)), delay_seconds: 60 }), [EXCLUSIVE]],
      ['both, delay_seconds 0', () => ({ run_at: rfc3339(ahead(60)), delay_seconds: 0 }), [EXCLUSIVE]],
      ['a run_at without an offset', () => ({ run_at: rfc3339(ahead(60)).slice(0, 23) }), [instantMessage('run_at')]],
      ['a date-only run_at', () => ({ run_at: today }), [instantMessage('run_at')]],
      ['February 30', () => ({ run_at: `${year}-02-30T09:00:00Z` }), [instantMessage('run_at')]],
      ['hour 24', () => ({ run_at: `${today}T24:00:00Z` }), [instantMessage('run_at')]],
      ['a leap second', () => ({ run_at: `${today}T23:59:60Z` }), [instantMessage('run_at')]],
      ['an offset of 24 hours', () => ({ run_at: `${today}T12:00:00+24:00` }), [instantMessage('run_at')]],
      ['a space for the T', () => ({ run_at: rfc3339(ahead(60)).replace('T', ' ') }), [instantMessage('run_at')]],
      ['an empty run_at', () => ({ run_at: '' }), [instantMessage('run_at')]],
      ['a run_at beyond JOB_MAX_DELAY_SECONDS', () => ({ run_at: rfc3339(ahead(MAX_DELAY_SECONDS + 60)) }), [TOO_FAR]],
      ['a run_at as epoch milliseconds', () => ({ run_at: ahead(60) }), ['run_at must be a string']],
      ['a run_at as an object', () => ({ run_at: { at: 'now' } }), ['run_at must be a string']],
      ['a delay_seconds beyond the bound', () => ({ delay_seconds: MAX_DELAY_SECONDS + 1 }), [DELAY_TOO_LONG]],
      [
        'an expires_at before the due time',
        () => ({ delay_seconds: 60, expires_at: rfc3339(ahead(30)) }),
        [EXPIRES_TOO_SOON],
      ],
      [
        'an expires_at at the due time',
        () => {
          const at = rfc3339(ahead(60));
          return { run_at: at, expires_at: at };
        },
        [EXPIRES_TOO_SOON],
      ],
      [
        'an expires_at before the default delay',
        () => ({ expires_at: rfc3339(ahead(120), '+09:00') }), // due in 180 s
        [EXPIRES_TOO_SOON],
      ],
      [
        'an expires_at already past, on a job due now',
        () => ({ run_at: rfc3339(ahead(-120)), expires_at: rfc3339(ahead(-60)) }),
        [EXPIRES_TOO_SOON],
      ],
      [
        'an expires_at that is no date',
        () => ({ delay_seconds: 0, expires_at: 'tomorrow' }),
        [instantMessage('expires_at')],
      ],
      [
        'an expires_at without an offset',
        () => ({ delay_seconds: 0, expires_at: rfc3339(ahead(60)).slice(0, 19) }),
        [instantMessage('expires_at')],
      ],
      ['a numeric expires_at', () => ({ delay_seconds: 0, expires_at: ahead(60) }), ['expires_at must be a string']],
    ])('should refuse %s with 400 and store nothing', async (_, body, message) => {
      const before = await storedJobs(queue);

      const response = await register(body(), refused);

      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual(badRequest(message));
      expect(await storedJobs(queue)).toBe(before);
      const listed = await app.inject({ method: 'GET', url: JOBS, headers: refused });
      expect(listed.json()).toEqual({ jobs: [], next_cursor: null });
    });
  });

  describe('expires_at', () => {
    it('should expire a job its worker is late for: it never prints, and shows as expired', async () => {
      const message = unique('expires late');
      const now = Date.now();
      const expiresAt = now + 1_500;
      await appWorker().pause();
      let jobId: string;
      try {
        const created = await registered({ message, run_at: rfc3339(now + 500), expires_at: rfc3339(expiresAt) });
        jobId = created.job_id;
        expect(created.expires_at).toBe(new Date(expiresAt).toISOString());
        expect(await view(jobId)).toMatchObject({ state: 'delayed', expires_at: created.expires_at });

        // Past its expires_at with no worker to take it: expired, ended at its expires_at.
        const expired = await untilView(jobId, (job) => job.state === 'expired', 'the job to expire');
        expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
        expect(expired).toMatchObject({
          state: 'expired',
          run_at: new Date(now + 500).toISOString(),
          expires_at: created.expires_at,
          finished_at: created.expires_at,
          processed_at: null,
        });
        expect((await patch(jobId, { delay_seconds: 60 })).json()).toEqual(EXPIRED);
        const listed = await app.inject({ method: 'GET', url: `${JOBS}?state=expired&limit=100`, headers: bearer() });
        expect(listed.json().jobs.map((job: { job_id: string }) => job.job_id)).toContain(jobId);
      } finally {
        appWorker().resume();
      }

      await sentinel(1); // registered after it, due after it
      expect(printed(message)).toEqual([]);
      const dropped = await untilView(
        jobId,
        (job) => job.failed_reason === EXPIRED_REASON,
        'the worker to drop the expired job',
      );
      expect(dropped).toMatchObject({
        state: 'expired',
        expires_at: new Date(expiresAt).toISOString(),
        finished_at: new Date(expiresAt).toISOString(),
        failed_reason: EXPIRED_REASON,
      });
      // Once dropped it is still the same expired job to a client.
      const patched = await patch(jobId, { delay_seconds: 60 });
      expect(patched.statusCode).toBe(409);
      expect(patched.json()).toEqual(EXPIRED);
      const cancelled = await app.inject({ method: 'DELETE', url: `${JOBS}/${jobId}`, headers: bearer() });
      expect(cancelled.json()).toEqual(EXPIRED);
      expect((await view(jobId)).state).toBe('expired');
    });

    it('should run a job that starts before its expires_at, once', async () => {
      const message = unique('expires later');
      const now = Date.now();

      const created = await registered({ message, run_at: rfc3339(now + 500), expires_at: rfc3339(now + 30_000) });

      expect(created.expires_at).toBe(new Date(now + 30_000).toISOString());
      await untilPrinted(message);
      await sentinel(1);
      expect(printed(message)).toHaveLength(1);
      expect(await view(created.job_id)).toMatchObject({
        state: 'completed',
        expires_at: created.expires_at,
        failed_reason: null,
        attempts_made: 1,
      });
    });
  });

  describe('PATCH /api/dm-jobqueue/jobs/:job_id', () => {
    it('should keep every field of the data exact through a move, a far expires_at included', async () => {
      const created = await registered({ message: 'far / "quoted" é 😀', expires_at: '9999-12-31T23:59:59.999Z' });

      const moved = await patch(created.job_id, { delay_seconds: 60 });

      expect(moved.statusCode).toBe(200);
      expect(moved.json()).toMatchObject({
        message: 'far / "quoted" é 😀',
        expires_at: '9999-12-31T23:59:59.999Z',
        state: 'delayed',
      });
      expect((await view(created.job_id)).expires_at).toBe('9999-12-31T23:59:59.999Z');
    });

    it('should move a delayed job earlier, and run it then', async () => {
      const message = unique('moved earlier');
      const created = await registered({ message, delay_seconds: 300 });
      const original = await view(created.job_id);

      const before = Date.now();
      const response = await patch(created.job_id, { delay_seconds: 1 });
      const after = Date.now();

      expect(response.statusCode).toBe(200);
      const moved = response.json();
      expect(moved).toEqual({ ...original, state: 'delayed', delay_seconds: 1, run_at: expect.stringMatching(ISO) });
      const due = Date.parse(moved.run_at);
      expect(due).toBeGreaterThanOrEqual(before + 1_000);
      expect(due).toBeLessThanOrEqual(after + 1_000);
      expect(await view(created.job_id)).toEqual(moved);

      await untilPrinted(message);
      const done = await untilView(created.job_id, (job) => job.state === 'completed', 'the job to complete');
      expect(Date.parse(done.processed_at)).toBeGreaterThanOrEqual(due);
      expect(Date.parse(done.processed_at)).toBeLessThan(due + LATE_MS);
      expect(done.run_at).toBe(moved.run_at);
    });

    it('should move a delayed job later: it does not run at its old time', async () => {
      const message = unique('moved later');
      const created = await registered({ message, delay_seconds: 1 });

      const response = await patch(created.job_id, { delay_seconds: 300 });

      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ state: 'delayed', delay_seconds: 300 });
      const due = Date.parse(response.json().run_at);
      expect(due - Date.parse(created.run_at)).toBeGreaterThan(298_000);
      await sentinel(2); // due after its old time
      expect(printed(message)).toEqual([]);
      expect(await view(created.job_id)).toMatchObject({ state: 'delayed', run_at: response.json().run_at });
    });

    it('should move a waiting job (no worker free) to later', async () => {
      const message = unique('waiting moved');
      await appWorker().pause();
      try {
        const created = await registered({ message, delay_seconds: 0 });
        expect(await view(created.job_id)).toMatchObject({ state: 'waiting' });

        const response = await patch(created.job_id, { delay_seconds: 300 });

        expect(response.statusCode).toBe(200);
        expect(response.json()).toMatchObject({ state: 'delayed', delay_seconds: 300 });
        expect(await redis.command('LPOS', WAIT_KEY, created.job_id)).toBeNull();
        expect(await redis.command('ZSCORE', DELAYED_KEY, created.job_id)).not.toBeNull();
      } finally {
        appWorker().resume();
      }
      await sentinel(1);
      expect(printed(message)).toEqual([]);
    });

    it('should move a job to a run_at given with an offset', async () => {
      const message = unique('moved to run_at');
      const created = await registered({ message, delay_seconds: 300 });
      const runAt = Date.now() + 1_500;

      const response = await patch(created.job_id, { run_at: rfc3339(runAt, '+09:00') });

      expect(response.statusCode).toBe(200);
      const moved = response.json();
      expect(moved).toMatchObject({ state: 'delayed', run_at: new Date(runAt).toISOString() });
      expect([1, 2]).toContain(moved.delay_seconds);
      await untilPrinted(message);
      const done = await untilView(created.job_id, (job) => job.state === 'completed', 'the job to complete');
      expect(Date.parse(done.processed_at)).toBeGreaterThanOrEqual(runAt);
      expect(Date.parse(done.processed_at)).toBeLessThan(runAt + LATE_MS);
    });

    it('should run a job now when moved to delay_seconds 0 or to a past run_at', async () => {
      for (const body of [{ delay_seconds: 0 }, { run_at: rfc3339(Date.now() - 60_000, '-07:00') }]) {
        const message = unique('moved to now');
        const created = await registered({ message, delay_seconds: 300 });

        const before = Date.now();
        const response = await patch(created.job_id, body);

        expect(response.statusCode).toBe(200);
        const moved = response.json();
        // Read after the move: the worker may already have taken it.
        expect(['delayed', 'waiting', 'active', 'completed']).toContain(moved.state);
        expect(moved.delay_seconds).toBe(0);
        expect(Date.parse(moved.run_at)).toBeGreaterThanOrEqual(before);
        await untilPrinted(message);
        const done = await untilView(created.job_id, (job) => job.state === 'completed', 'the job to complete');
        expect(Date.parse(done.processed_at) - Date.parse(moved.run_at)).toBeLessThan(LATE_MS);
      }
    });

    it('should either move a job a worker is about to take, or say it ran: never both (30 races)', async () => {
      const outcomes: { message: string; jobId: string; status: number; body: Record<string, unknown> }[] = [];
      for (let i = 0; i < 30; i += 1) {
        const message = unique(`race ${i}`);
        const created = await registered({ message, delay_seconds: 0, max_retry: 0 });
        const response = await patch(created.job_id, { delay_seconds: 300 });
        outcomes.push({ message, jobId: created.job_id, status: response.statusCode, body: response.json() });
      }

      const moved = outcomes.filter((outcome) => outcome.status === 200);
      const ran = outcomes.filter((outcome) => outcome.status === 409);
      expect(moved.length + ran.length).toBe(outcomes.length);
      for (const outcome of moved) expect(outcome.body).toMatchObject({ state: 'delayed', delay_seconds: 300 });
      for (const outcome of ran) expect([RUNNING, FINISHED]).toContainEqual(outcome.body);

      await eventually(
        () => (ran.every((outcome) => printed(outcome.message).length > 0) ? true : undefined),
        15_000,
        'every job that was not moved to be printed',
      );
      await sentinel(1);
      for (const outcome of moved)
        expect({ moved: outcome.message, lines: printed(outcome.message) }).toEqual({
          moved: outcome.message,
          lines: [],
        });
      for (const outcome of ran) expect(printed(outcome.message)).toHaveLength(1);
      const racePrinted = lines.lines.filter((line) =>
        outcomes.some((outcome) => line.endsWith(`] ${outcome.message}`)),
      );
      expect(racePrinted).toHaveLength(ran.length);
      for (const outcome of moved) expect(await view(outcome.jobId)).toMatchObject({ state: 'delayed' });
      for (const outcome of ran) expect(await view(outcome.jobId)).toMatchObject({ state: 'completed' });
    });

    it('should either move a job or let another worker take it, never both (30 races)', async () => {
      // The app's worker paused, each job waits; another worker (as in another process) asks for it while the PATCH
      // moves it, after a varying head start so that either may come first.
      const other = manualWorker(redis.url, PREFIX);
      const lockToken = randomUUID();
      const outcomes: string[] = [];
      await appWorker().pause();
      try {
        for (let i = 0; i < 30; i += 1) {
          const created = await registered({ message: unique(`taken ${i}`), delay_seconds: 0, max_retry: 0 });
          const [taken, response] = await Promise.all([
            sleep(i % 6).then(() => other.getNextJob(lockToken, { block: false })),
            patch(created.job_id, { delay_seconds: 300 }),
          ]);
          if (response.statusCode === 200) {
            outcomes.push('moved');
            expect(taken).toBeUndefined();
            expect(response.json()).toMatchObject({ state: 'delayed', delay_seconds: 300 });
            expect(await queue.getJobState(created.job_id)).toBe('delayed');
          } else {
            outcomes.push('taken');
            expect(response.json()).toEqual(RUNNING);
            expect(taken?.id).toBe(created.job_id);
            expect(await view(created.job_id)).toMatchObject({ state: 'active', run_at: created.run_at });
            await taken!.moveToCompleted('done', lockToken, false);
          }
        }
      } finally {
        appWorker().resume();
        await other.close();
      }
      expect(outcomes).toHaveLength(30);
    });

    describe('jobs it leaves alone', () => {
      it('should refuse to move a running job, then a completed or failed one (409)', async () => {
        // Another worker (as in another process) holds the jobs while the app's own worker is paused.
        const other = manualWorker(redis.url, PREFIX);
        const lockToken = randomUUID();
        await appWorker().pause();
        try {
          for (const end of ['completed', 'failed'] as const) {
            const created = await registered({ message: `held ${end}`, delay_seconds: 0, max_retry: 0 });
            const job = (await other.getNextJob(lockToken)) as Job;
            expect(job.id).toBe(created.job_id);

            const running = await patch(created.job_id, { delay_seconds: 60 });

            expect(running.statusCode).toBe(409);
            expect(running.json()).toEqual(RUNNING);
            expect(await view(created.job_id)).toMatchObject({ state: 'active', run_at: created.run_at });

            if (end === 'completed') await job.moveToCompleted('done', lockToken, false);
            else await job.moveToFailed(new Error('boom'), lockToken);
            expect(await view(created.job_id)).toMatchObject({ state: end });
            for (const body of [{ delay_seconds: 60 }, { run_at: rfc3339(Date.now() + 60_000) }]) {
              const finished = await patch(created.job_id, body);
              expect(finished.statusCode).toBe(409);
              expect(finished.json()).toEqual(FINISHED);
            }
            expect(await view(created.job_id)).toMatchObject({ state: end, run_at: created.run_at });
          }
        } finally {
          appWorker().resume();
          await other.close();
        }
      });

      it('should refuse to move a job the app has run (409)', async () => {
        const message = unique('ran');
        const created = await registered({ message, delay_seconds: 0 });
        await untilPrinted(message);
        await untilView(created.job_id, (job) => job.state === 'completed', 'the job to complete');

        const response = await patch(created.job_id, { delay_seconds: 0 });

        expect(response.statusCode).toBe(409);
        expect(response.json()).toEqual(FINISHED);
        await sentinel(1);
        expect(printed(message)).toHaveLength(1);
      });

      it.each([
        ['an unknown id', () => randomUUID()],
        ['a malformed id', () => 'not-a-job'],
        ['an id of 500 characters', () => 'a'.repeat(500)],
      ])('should answer 404 for %s', async (_, jobId) => {
        const response = await patch(jobId(), { delay_seconds: 60 });

        expect(response.statusCode).toBe(404);
        expect(response.json()).toEqual(NOT_FOUND);
      });

      it("should answer another tenant's job as unknown and leave it alone, but let an admin move it", async () => {
        const alice = bearer(token({ subject: 'alice' }));
        const bob = bearer(token({ subject: 'bob' }));
        const created = await registered({ delay_seconds: 300 }, alice);
        const original = await view(created.job_id, alice);

        const byBob = await patch(created.job_id, { delay_seconds: 60 }, bob);
        const unknown = await patch(randomUUID(), { delay_seconds: 60 }, bob);

        expect(byBob.statusCode).toBe(404);
        expect(byBob.json()).toEqual(unknown.json());
        expect(byBob.json()).toEqual(NOT_FOUND);
        expect(await view(created.job_id, alice)).toEqual(original);

        const byAdmin = await patch(created.job_id, { delay_seconds: 600 }, admin);

        expect(byAdmin.statusCode).toBe(200);
        expect(byAdmin.json()).toMatchObject({ job_id: created.job_id, owner: 'alice', delay_seconds: 600 });
        expect(await view(created.job_id, alice)).toEqual(byAdmin.json());
      });

      it('should answer 403 to a token without the write scope, and leave the job alone', async () => {
        const created = await registered({ delay_seconds: 300 });
        const original = await view(created.job_id);

        const response = await patch(created.job_id, { delay_seconds: 1 }, readOnly);

        expect(response.statusCode).toBe(403);
        expect(response.json()).toEqual(FORBIDDEN);
        expect(await view(created.job_id)).toEqual(original);
      });

      it.each<[string, () => unknown, string | string[]]>([
        ['an empty body', () => ({}), [REQUIRED]],
        ['null fields', () => ({ delay_seconds: null, run_at: null }), [REQUIRED]],
        ['both fields', () => ({ delay_seconds: 5, run_at: rfc3339(Date.now() + 60_000) }), [EXCLUSIVE]],
        ['a delay_seconds string', () => ({ delay_seconds: '5' }), ['delay_seconds must be an integer number']],
        ['a fractional delay_seconds', () => ({ delay_seconds: 1.5 }), ['delay_seconds must be an integer number']],
        ['a negative delay_seconds', () => ({ delay_seconds: -1 }), ['delay_seconds must not be less than 0']],
        ['an unknown property', () => ({ delay_seconds: 5, priority: 1 }), ['property priority should not exist']],
        ['a new message', () => ({ delay_seconds: 5, message: 'changed' }), ['property message should not exist']],
        ['a delay_seconds beyond the bound', () => ({ delay_seconds: MAX_DELAY_SECONDS + 1 }), [DELAY_TOO_LONG]],
        [
          'a run_at beyond the bound',
          () => ({ run_at: rfc3339(Date.now() + (MAX_DELAY_SECONDS + 60) * 1_000) }),
          [TOO_FAR],
        ],
        ['a run_at without an offset', () => ({ run_at: '2030-01-01T00:00:00' }), [instantMessage('run_at')]],
        ['a numeric run_at', () => ({ run_at: Date.now() + 60_000 }), ['run_at must be a string']],
        ['an array', () => [{ delay_seconds: 5 }], 'Request body must be a JSON object'],
      ])('should refuse %s with 400 and leave the job alone', async (_, body, message) => {
        const created = await registered({ delay_seconds: 300 });
        const original = await view(created.job_id);

        const response = await patch(created.job_id, body());

        expect(response.statusCode).toBe(400);
        expect(response.json()).toEqual(badRequest(message));
        expect(await view(created.job_id)).toEqual(original);
      });

      it("should refuse a new time that is not before the job's expires_at (400), and take one that is", async () => {
        const expiresAt = Date.now() + 600_000;
        const created = await registered({ delay_seconds: 300, expires_at: rfc3339(expiresAt) });
        const original = await view(created.job_id);

        for (const body of [
          { delay_seconds: 600 },
          { delay_seconds: 900 },
          { run_at: rfc3339(expiresAt) },
          { run_at: rfc3339(expiresAt + 1, '+09:00') },
        ]) {
          const response = await patch(created.job_id, body);
          expect({ body, status: response.statusCode, answer: response.json() }).toEqual({
            body,
            status: 400,
            answer: badRequest([AFTER_EXPIRY]),
          });
        }
        expect(await view(created.job_id)).toEqual(original);

        const response = await patch(created.job_id, { run_at: rfc3339(expiresAt - 1) });

        expect(response.statusCode).toBe(200);
        expect(response.json()).toMatchObject({
          state: 'delayed',
          run_at: new Date(expiresAt - 1).toISOString(),
          expires_at: new Date(expiresAt).toISOString(),
        });
      });
    });

    describe('what Redis holds after a move', () => {
      const storedData = async (jobId: string) =>
        JSON.parse(String(await redis.command('HGET', `${PREFIX}:${SERVICE_QUEUE}:${jobId}`, 'data')));

      it("should hold the job in the delayed set at its new due time, with BullMQ's score, and its data updated", async () => {
        const created = await registered({ message: 'stored move', delay_seconds: 600 });
        const scoreBefore = Number(await redis.command('ZSCORE', DELAYED_KEY, created.job_id));
        expect(Math.floor(scoreBefore / 0x1000)).toBe(Date.parse(created.run_at));

        const response = await patch(created.job_id, { delay_seconds: 1200 });

        expect(response.statusCode).toBe(200);
        const due = Date.parse(response.json().run_at);
        const score = Number(await redis.command('ZSCORE', DELAYED_KEY, created.job_id));
        expect(Math.floor(score / 0x1000)).toBe(due);
        expect(await storedData(created.job_id)).toEqual({
          message: 'stored move',
          delay_seconds: 1200,
          max_retry: 10,
          run_at: due,
          owner: 'e2e',
        });
        expect(await queue.getJobState(created.job_id)).toBe('delayed');
      });

      it('should keep two jobs moved to the same millisecond apart and in order', async () => {
        const runAt = Date.now() + 900_000;
        const first = await registered({ delay_seconds: 300 });
        const second = await registered({ delay_seconds: 60 });

        expect((await patch(first.job_id, { run_at: rfc3339(runAt) })).statusCode).toBe(200);
        expect((await patch(second.job_id, { run_at: rfc3339(runAt, '+09:00') })).statusCode).toBe(200);

        const scores = await Promise.all(
          [first, second].map(async (job) => Number(await redis.command('ZSCORE', DELAYED_KEY, job.job_id))),
        );
        expect(scores.map((score) => Math.floor(score / 0x1000))).toEqual([runAt, runAt]);
        expect(scores[1]).toBe(scores[0] + 1);
        for (const job of [first, second]) expect((await storedData(job.job_id)).run_at).toBe(runAt);
      });
    });
  });
});
