// SPEC 6.3 and 6.4 through the real AppModule: GET /api/dm-jobqueue/jobs (tenants, newest first, pages followed
// while jobs are registered, the state filter, jobs that are gone, the index's size, expiry and keys, bad
// parameters), against a private redis-server (the last test stops it).
import { Job, Queue, Worker } from 'bullmq';
import { createHash, randomUUID } from 'node:crypto';
import type { Scope } from '../../src/auth/token';
import { EXPIRED_REASON } from '../../src/jobs/job';
import { INDEX_GRACE_MS } from '../../src/jobs/job-index';
import { JobProcessor } from '../../src/jobs/worker/job.processor';
import type { TestApp } from '../support/app';
import { JobsApp, startJobsApp } from '../support/jobs-app';
import { JobLines } from '../support/job-lines';
import { manualWorker, SERVICE_QUEUE, storedJobs } from '../support/queue';
import { RedisServer } from '../support/redis-server';
import { bearer, token } from '../support/tokens';
import { eventually } from '../support/wait';

jest.setTimeout(60_000);

const REGISTER = '/api/dm-jobqueue/register';
const BATCH = '/api/dm-jobqueue/register/batch';
const JOBS = '/api/dm-jobqueue/jobs';
const PREFIX = '{dm-jobqueue-list}';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const HOUR = 3_600;

const FORBIDDEN = { statusCode: 403, message: 'Insufficient scope', error: 'Forbidden' };
const UNAVAILABLE = { statusCode: 503, message: 'Job queue is unavailable', error: 'Service Unavailable' };

type Auth = { authorization: string };
const as = (subject: string, scope: Scope[] = ['read', 'write']): Auth => bearer(token({ subject, scope }));
const ADMIN = as('operator', ['read', 'write', 'admin']);

interface View {
  job_id: string;
  owner: string | null;
  state: string;
  message: string;
  created_at: string;
  run_at: string;
  expires_at: string | null;
  processed_at: string | null;
  finished_at: string | null;
  failed_reason: string | null;
}
interface Page {
  jobs: View[];
  next_cursor: string | null;
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
/** The index keys of the design (src/jobs/job-index.ts), spelled out here so that a rename shows. */
const tenantIndex = (subject: string): string => `${PREFIX}:tenant:${sha256(subject)}:jobs`;
const GLOBAL_INDEX = `${PREFIX}:jobs`;

/** Pairs of neighbours that are not strictly newest first by (created_at, job_id): [] when the order holds. */
function outOfOrder(jobs: readonly View[]): string[] {
  const wrong: string[] = [];
  for (let i = 1; i < jobs.length; i++) {
    const [a, b] = [jobs[i - 1], jobs[i]];
    const before = a.created_at > b.created_at || (a.created_at === b.created_at && a.job_id > b.job_id);
    if (!before) wrong.push(`${i - 1}: ${a.created_at} ${a.job_id} then ${b.created_at} ${b.job_id}`);
  }
  return wrong;
}

const duplicates = (ids: readonly string[]): string[] => ids.filter((id, i) => ids.indexOf(id) !== i);
const sorted = (ids: readonly string[]): string[] => [...ids].sort();

describe('GET /api/dm-jobqueue/jobs', () => {
  let fixture: JobsApp;
  let redis: RedisServer;
  let app: TestApp;
  let queue: Queue;
  let lines: JobLines;

  beforeAll(async () => {
    // No rate limit (the specs send hundreds of requests with a token); two completed jobs kept, so that retention
    // removes jobs while the index still holds their entries.
    fixture = await startJobsApp({
      QUEUE_PREFIX: PREFIX,
      RATE_LIMIT_PER_MINUTE: '0',
      JOB_KEEP_COMPLETED_COUNT: '2',
      REDIS_TIMEOUT_MS: '500',
    });
    ({ redis, app, queue, lines } = fixture);
  });

  afterAll(() => fixture?.close());

  const register = (body: object, auth: Auth) =>
    app.inject({
      method: 'POST',
      url: REGISTER,
      headers: { 'content-type': 'application/json', ...auth },
      payload: JSON.stringify(body),
    });
  /** Registers a job and answers its register answer (201 checked). */
  const registered = async (body: object, auth: Auth) => {
    const response = await register(body, auth);
    expect(response.statusCode).toBe(201);
    return response.json<{ job_id: string; run_at: string; expires_at: string | null }>();
  };
  const registerDelayed = async (auth: Auth, message = 'later'): Promise<string> =>
    (await registered({ message, delay_seconds: HOUR }, auth)).job_id;
  const list = (query: string, auth: Auth) =>
    app.inject({ method: 'GET', url: query === '' ? JOBS : `${JOBS}?${query}`, headers: auth });
  /** One page, 200 checked. */
  const page = async (query: string, auth: Auth): Promise<Page> => {
    const response = await list(query, auth);
    expect(response.statusCode).toBe(200);
    return response.json<Page>();
  };
  /** Every page, following next_cursor from the first until it is null. */
  const listAll = async (auth: Auth, query = '', limit = 100): Promise<View[]> => {
    const jobs: View[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 1_000; pages++) {
      const params = new URLSearchParams(query);
      params.set('limit', String(limit));
      if (cursor !== null) params.set('cursor', cursor);
      const answer = await page(params.toString(), auth);
      jobs.push(...answer.jobs);
      cursor = answer.next_cursor;
      if (cursor === null) return jobs;
    }
    throw new Error('next_cursor never became null');
  };
  const idsOf = (jobs: readonly View[]): string[] => jobs.map((job) => job.job_id);
  const getJob = (jobId: string, auth: Auth) => app.inject({ method: 'GET', url: `${JOBS}/${jobId}`, headers: auth });
  const score = async (key: string, jobId: string) => redis.command('ZSCORE', key, jobId);
  /** The app's own worker, paused so that a test decides which worker (if any) takes a job. */
  const appWorker = () => app.app.get(JobProcessor).worker;
  const untilPrinted = (message: string, count = 1) =>
    eventually(() => (lines.printed(message).length >= count ? true : undefined), 20_000, `"${message}" to be printed`);

  describe('tenants', () => {
    const ALICE = as('alice');
    const BOB = as('bob');

    it("should show each tenant their own jobs only, an admin every tenant's, and with owner= one tenant's", async () => {
      const alice: string[] = [];
      const bob: string[] = [];
      for (let i = 0; i < 3; i++) alice.push(await registerDelayed(ALICE, `alice ${i}`));
      for (let i = 0; i < 2; i++) bob.push(await registerDelayed(BOB, `bob ${i}`));

      const aliceSees = await listAll(ALICE);
      const bobSees = await listAll(BOB);
      const adminSees = await listAll(ADMIN);
      const adminAlice = await listAll(ADMIN, 'owner=alice');
      const adminBob = await listAll(ADMIN, 'owner=bob');

      expect(sorted(idsOf(aliceSees))).toEqual(sorted(alice));
      expect(sorted(idsOf(bobSees))).toEqual(sorted(bob));
      expect(idsOf(adminSees)).toEqual(expect.arrayContaining([...alice, ...bob]));
      expect(sorted(idsOf(adminAlice))).toEqual(sorted(alice));
      expect(sorted(idsOf(adminBob))).toEqual(sorted(bob));
      for (const jobs of [aliceSees, adminAlice])
        expect(new Set(jobs.map((job) => job.owner))).toEqual(new Set(['alice']));
      expect(new Set(bobSees.map((job) => job.owner))).toEqual(new Set(['bob']));
      for (const jobs of [aliceSees, bobSees, adminSees]) expect(outOfOrder(jobs)).toEqual([]);
      // A tenant may name themselves.
      expect(await page('owner=alice', ALICE)).toEqual(await page('', ALICE));
      // An owner with no jobs: an empty last page.
      expect(await page('owner=nobody', ADMIN)).toEqual({ jobs: [], next_cursor: null });
      // The job view of GET /jobs/:job_id.
      const newest = aliceSees.find((job) => job.job_id === alice[2])!;
      expect(newest).toEqual({
        job_id: alice[2],
        owner: 'alice',
        schedule_id: null,
        state: 'delayed',
        message: 'alice 2',
        delay_seconds: HOUR,
        max_retry: 10,
        attempts_made: 0,
        created_at: expect.stringMatching(ISO),
        run_at: expect.stringMatching(ISO),
        expires_at: null,
        processed_at: null,
        finished_at: null,
        failed_reason: null,
      });
      expect(newest).toEqual((await getJob(alice[2], ALICE)).json());
    });

    it('should list a job registered twice with one Idempotency-Key once', async () => {
      const VERA = as('vera');
      const send = () =>
        app.inject({
          method: 'POST',
          url: REGISTER,
          headers: { 'content-type': 'application/json', 'idempotency-key': 'vera-once', ...VERA },
          payload: JSON.stringify({ delay_seconds: HOUR }),
        });
      const first = await send();
      const again = await send();

      expect([first.statusCode, again.statusCode]).toEqual([201, 200]);
      expect(idsOf(await listAll(VERA))).toEqual([first.json<{ job_id: string }>().job_id]);
      expect(await redis.command('ZCARD', tenantIndex('vera'))).toBe(1);
    });

    it('should answer 403 to a tenant naming another owner, whether or not that owner has jobs', async () => {
      await registerDelayed(BOB);

      for (const owner of ['bob', 'nobody', 'ALICE']) {
        const response = await list(`owner=${owner}`, ALICE);

        expect(response.statusCode).toBe(403);
        expect(response.json()).toEqual(FORBIDDEN);
      }
    });

    it('should answer 403 without the read scope, and 401 without a token', async () => {
      const writeOnly = await list('', as('alice', ['write']));
      const adminOnly = await list('', as('operator', ['admin']));
      const anonymous = await app.inject({ method: 'GET', url: JOBS });

      expect(writeOnly.statusCode).toBe(403);
      expect(writeOnly.json()).toEqual(FORBIDDEN);
      expect(adminOnly.statusCode).toBe(403);
      expect(adminOnly.json()).toEqual(FORBIDDEN);
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json()).toEqual({
        statusCode: 401,
        message: 'Authorization header is required',
        error: 'Unauthorized',
      });
    });
  });

  describe('the index as retention removes jobs', () => {
    const IVAN = as('ivan');

    // The design (src/jobs/job-index.ts) drops an index entry whose job is gone only once the entry is older than
    // INDEX_GRACE_MS (5 s: an entry is written just before its job's add), and then through INDEX_SAMPLES (4)
    // random entries each registration checks, or the entries a list request reads. So the test waits that grace
    // out: within it every entry stays, whatever retention did.
    it('should stay bounded and expiring: entries of removed jobs are dropped by later registrations', async () => {
      const burst: string[] = [];
      for (let i = 0; i < 30; i++) {
        const answers = await Promise.all(
          Array.from({ length: 10 }, (_, j) => registered({ message: `ivan ${i * 10 + j}`, delay_seconds: 0 }, IVAN)),
        );
        burst.push(...answers.map((answer) => answer.job_id));
      }
      await eventually(
        () => (lines.lines.filter((line) => / ivan \d+$/.test(line)).length >= 300 ? true : undefined),
        60_000,
        'the 300 jobs to be printed',
        100,
      );
      // Count retention keeps two completed jobs: the other 298 are gone from Redis.
      await eventually(async () => ((await queue.getJobCounts('completed')).completed <= 2 ? true : undefined));
      const kept = (await Promise.all(burst.map((id) => queue.getJob(id)))).filter(
        (job): job is Job => job !== undefined,
      );
      expect(kept.length).toBeLessThanOrEqual(2);
      // The list shows only the jobs Redis still has, whatever the index still holds.
      expect(sorted(idsOf(await listAll(IVAN)))).toEqual(sorted(kept.map((job) => job.id!)));
      const [, newest] = (await redis.command('ZRANGE', tenantIndex('ivan'), -1, -1, 'WITHSCORES')) as string[];
      await eventually(
        () => (Date.now() > Number(newest) + INDEX_GRACE_MS + 1_000 ? true : undefined),
        INDEX_GRACE_MS + 30_000,
        'the grace of the newest entry to pass',
        500,
      );

      // 100 more registrations of jobs that stay (delayed), each checking 4 random entries of each index.
      const later: string[] = [];
      for (let i = 0; i < 100; i++) later.push(await registerDelayed(IVAN, `ivan later ${i}`));

      // Of the 298 stale entries, the expected number left is about 31 (a simulation of the sampling: at most 49
      // in 2 000 runs); 100 is a generous bound. The index keeps the jobs Redis still holds: 100 delayed, 2 completed.
      const oldLeft = Number(await redis.command('ZCOUNT', tenantIndex('ivan'), '-inf', newest));
      expect(oldLeft).toBeLessThan(100);
      expect(oldLeft).toBeGreaterThanOrEqual(kept.length);
      const tenantSize = Number(await redis.command('ZCARD', tenantIndex('ivan')));
      expect(tenantSize).toBeLessThan(200); // of 400 registered
      const globalScores = (await redis.command('ZMSCORE', GLOBAL_INDEX, ...burst)) as (string | null)[];
      expect(globalScores.filter((value) => value !== null).length).toBeLessThan(100);
      // Every later job is indexed in both, and the list shows exactly the jobs Redis holds.
      expect(((await redis.command('ZMSCORE', GLOBAL_INDEX, ...later)) as unknown[]).includes(null)).toBe(false);
      expect(sorted(idsOf(await listAll(IVAN)))).toEqual(sorted([...later, ...kept.map((job) => job.id!)]));
      // A tenant's index expires (renewed by each of its registrations): an index nobody registers into goes away.
      // The global index is renewed by every tenant's registrations; its samples bound it, not a TTL.
      const ttl = Number(await redis.command('PTTL', tenantIndex('ivan')));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual((2_592_000 + 604_800 + 86_400) * 1_000); // max delay + failed retention + 1 day
      expect(Number(await redis.command('PTTL', GLOBAL_INDEX))).toBe(-1);
    }, 180_000);

    it('should stay bounded under batches too: each batch checks entries in proportion to its jobs', async () => {
      const BEA = as('bea');
      const postBatch = async (jobs: object[]) => {
        const answer = await app.inject({
          method: 'POST',
          url: BATCH,
          headers: { 'content-type': 'application/json', ...BEA },
          payload: JSON.stringify({ jobs }),
        });
        expect(answer.statusCode).toBe(201);
        return answer.json<{ jobs: { job_id: string }[] }>().jobs.map((job) => job.job_id);
      };
      const burst: string[] = [];
      for (let i = 0; i < 10; i++) {
        burst.push(
          ...(await postBatch(
            Array.from({ length: 30 }, (_, j) => ({ message: `bea ${i * 30 + j}`, delay_seconds: 0 })),
          )),
        );
      }
      await eventually(
        () => (lines.lines.filter((line) => / bea \d+$/.test(line)).length >= 300 ? true : undefined),
        60_000,
        'the 300 batch jobs to be printed',
        100,
      );
      await eventually(async () => ((await queue.getJobCounts('completed')).completed <= 2 ? true : undefined));
      const [, newest] = (await redis.command('ZRANGE', tenantIndex('bea'), -1, -1, 'WITHSCORES')) as string[];
      await eventually(
        () => (Date.now() > Number(newest) + INDEX_GRACE_MS + 1_000 ? true : undefined),
        INDEX_GRACE_MS + 30_000,
        'the grace of the newest entry to pass',
        500,
      );

      // 10 batches of 10 jobs that stay: 100 jobs, as many as the 100 single registrations above.
      for (let i = 0; i < 10; i++) {
        await postBatch(Array.from({ length: 10 }, () => ({ message: 'bea later', delay_seconds: 3600 })));
      }

      // Four checks per job added, as for single registrations (the first ones find most entries stale, so every
      // batch checks all its 40): of ~298 stale entries about 31 are left.
      const oldLeft = Number(await redis.command('ZCOUNT', tenantIndex('bea'), '-inf', newest));
      expect(oldLeft).toBeLessThan(100);
      const globalScores = (await redis.command('ZMSCORE', GLOBAL_INDEX, ...burst)) as (string | null)[];
      expect(globalScores.filter((value) => value !== null).length).toBeLessThan(100);
    }, 180_000);
  });

  describe('order and pages', () => {
    const FRANK = as('frank');
    /** Frank's 105 jobs, newest first as the registration answers say (created_at is run_at minus the delay). */
    let expected: string[];

    beforeAll(async () => {
      const answers: { job_id: string; created: number }[] = [];
      for (let i = 0; i < 105; i++) {
        const answer = await registered({ message: `frank ${i}`, delay_seconds: HOUR }, FRANK);
        answers.push({ job_id: answer.job_id, created: Date.parse(answer.run_at) - HOUR * 1_000 });
      }
      answers.sort((a, b) => b.created - a.created || (a.job_id < b.job_id ? 1 : -1));
      expected = answers.map((answer) => answer.job_id);
    });

    it('should answer the 20 newest jobs by default, with a cursor to the next page', async () => {
      const first = await page('', FRANK);

      expect(idsOf(first.jobs)).toEqual(expected.slice(0, 20));
      expect(first.next_cursor).toEqual(expect.stringMatching(/^[A-Za-z0-9_-]+$/));
      expect(Object.keys(first).sort()).toEqual(['jobs', 'next_cursor']);
      expect(first.jobs.filter((job) => job.owner !== 'frank' || job.state !== 'delayed')).toEqual([]);
      const second = await page(`cursor=${first.next_cursor}`, FRANK);
      expect(idsOf(second.jobs)).toEqual(expected.slice(20, 40));
    });

    it('should answer at most 100 jobs, then the rest with a null next_cursor', async () => {
      const first = await page('limit=100', FRANK);
      const last = await page(`limit=100&cursor=${first.next_cursor}`, FRANK);

      expect(idsOf(first.jobs)).toEqual(expected.slice(0, 100));
      expect(first.next_cursor).not.toBeNull();
      expect(idsOf(last.jobs)).toEqual(expected.slice(100));
      expect(last.next_cursor).toBeNull();
      expect(outOfOrder([...first.jobs, ...last.jobs])).toEqual([]);
    });

    it('should answer a null next_cursor on a last page that is exactly full', async () => {
      const pages: Page[] = [await page('limit=35', FRANK)];
      while (pages.at(-1)!.next_cursor !== null && pages.length < 10) {
        pages.push(await page(`limit=35&cursor=${pages.at(-1)!.next_cursor}`, FRANK));
      }

      expect(pages.map((answer) => answer.jobs.length)).toEqual([35, 35, 35]);
      expect(pages.map((answer) => answer.next_cursor === null)).toEqual([false, false, true]);
      expect(pages.flatMap((answer) => idsOf(answer.jobs))).toEqual(expected);
      // limit=1 as well: 105 pages, the last one with its single job and no cursor.
      expect(idsOf(await listAll(FRANK, '', 1))).toEqual(expected);
    });

    it('should page jobs registered in the same millisecond by job id, descending, each once', async () => {
      const BATCHER = as('batcher');
      const response = await app.inject({
        method: 'POST',
        url: BATCH,
        headers: { 'content-type': 'application/json', ...BATCHER },
        payload: JSON.stringify({
          jobs: Array.from({ length: 10 }, (_, i) => ({ message: `b${i}`, delay_seconds: HOUR })),
        }),
      });
      expect(response.statusCode).toBe(201);
      const ids = response.json<{ jobs: { job_id: string }[] }>().jobs.map((job) => job.job_id);

      const jobs = await listAll(BATCHER, '', 3);

      expect(new Set(jobs.map((job) => job.created_at)).size).toBe(1);
      expect(idsOf(jobs)).toEqual(sorted(ids).reverse());
    });
  });

  it('should list every job once when following next_cursor while jobs are registered meanwhile', async () => {
    const PAULA = as('paula');
    const before: string[] = [];
    for (let i = 0; i < 60; i++) before.push(await registerDelayed(PAULA, `paula ${i}`));
    const meanwhile: string[] = [];
    let stop = false;
    const registering = (async () => {
      while (!stop) meanwhile.push(await registerDelayed(PAULA, 'meanwhile'));
    })();

    const walks: Record<string, View[]> = { tenant: [], global: [] };
    let pages = 0;
    try {
      for (const [walk, auth] of [
        ['tenant', PAULA],
        ['global', ADMIN],
      ] as const) {
        let cursor: string | null = null;
        do {
          const seen = meanwhile.length;
          const answer: Page = await page(cursor === null ? 'limit=7' : `limit=7&cursor=${cursor}`, auth);
          walks[walk].push(...answer.jobs);
          cursor = answer.next_cursor;
          pages++;
          // At least one job is registered between two pages.
          await eventually(() => (meanwhile.length > seen ? true : undefined), 10_000, 'a job registered meanwhile');
        } while (cursor !== null && walks[walk].length < 5_000);
      }
    } finally {
      stop = true;
      await registering;
    }

    for (const jobs of Object.values(walks)) {
      const ids = idsOf(jobs);
      expect(duplicates(ids)).toEqual([]);
      expect(outOfOrder(jobs)).toEqual([]);
      expect(before.filter((id) => !ids.includes(id))).toEqual([]);
    }
    // The tenant's walk holds only the tenant's jobs: those from before, and perhaps some registered meanwhile.
    expect(walks.tenant.filter((job) => !before.includes(job.job_id) && !meanwhile.includes(job.job_id))).toEqual([]);
    // The sentinel that the walks did overlap registrations: one at least after each page.
    expect(meanwhile.length).toBeGreaterThanOrEqual(pages);
    expect(pages).toBeGreaterThan(2 * Math.floor(60 / 7));
  });

  it('should filter by state: delayed, waiting, active, completed, failed and expired', async () => {
    const SAM = as('sam');
    const byState = async () => {
      const jobs = await listAll(SAM);
      return Object.fromEntries(jobs.map((job) => [job.job_id, job.state]));
    };
    const listed = async (state: string) => idsOf(await listAll(SAM, `state=${state}`));

    const delayed = await registerDelayed(SAM);
    const completedMessage = `done ${randomUUID().slice(0, 8)}`;
    const completed = (await registered({ message: completedMessage, delay_seconds: 0 }, SAM)).job_id;
    await untilPrinted(completedMessage);
    await eventually(async () => ((await getJob(completed, SAM)).json().state === 'completed' ? true : undefined));

    // Another worker (as in another process) takes a job while the app's own worker is paused.
    const other = manualWorker(redis.url, PREFIX);
    const lockToken = randomUUID();
    const waitingMessage = `waits ${randomUUID().slice(0, 8)}`;
    let waiting: string;
    let failed: string;
    let expired: { job_id: string; expires_at: string | null };
    await appWorker().pause();
    try {
      failed = (await registered({ message: 'fails', delay_seconds: 0, max_retry: 0 }, SAM)).job_id;
      const job = (await other.getNextJob(lockToken)) as Job;
      expect(job.id).toBe(failed);
      expect(await listed('active')).toEqual([failed]);
      await job.moveToFailed(new Error('boom'), lockToken);
      waiting = (await registered({ message: waitingMessage, delay_seconds: 0 }, SAM)).job_id;
      // Due in a second, expiring two seconds later: no worker takes it meanwhile.
      const now = Date.now();
      expired = await registered(
        { run_at: new Date(now + 1_000).toISOString(), expires_at: new Date(now + 3_000).toISOString() },
        SAM,
      );
      expect(expired.expires_at).toBe(new Date(now + 3_000).toISOString());
      expect(await listed('delayed')).toEqual([expired.job_id, delayed]);

      await eventually(async () => ((await listed('expired')).length > 0 ? true : undefined), 10_000, 'an expiry');

      expect(await listed('expired')).toEqual([expired.job_id]);
      expect(await listed('delayed')).toEqual([delayed]);
      expect(await listed('waiting')).toEqual([waiting]);
      expect(await listed('active')).toEqual([]);
      expect(await listed('completed')).toEqual([completed]);
      expect(await listed('failed')).toEqual([failed]);
      expect(await byState()).toEqual({
        [delayed]: 'delayed',
        [completed]: 'completed',
        [failed]: 'failed',
        [waiting]: 'waiting',
        [expired.job_id]: 'expired',
      });
      // No worker has touched it: Redis still has it waiting to run (the view says expired).
      expect(['delayed', 'waiting']).toContain(await queue.getJobState(expired.job_id));
      const [view] = (await page('state=expired', SAM)).jobs;
      expect(view).toMatchObject({
        job_id: expired.job_id,
        state: 'expired',
        expires_at: expired.expires_at,
        finished_at: expired.expires_at,
        processed_at: null,
        failed_reason: null,
      });
      expect((await page('state=failed', SAM)).jobs).toEqual([
        expect.objectContaining({ job_id: failed, failed_reason: 'boom', attempts_made: 1 }),
      ]);
    } finally {
      appWorker().resume();
      await other.close();
    }

    // The app's worker drops the expired job (failed in Redis, with its reason) and runs the waiting one.
    await untilPrinted(waitingMessage);
    await eventually(async () =>
      (await getJob(expired.job_id, SAM)).json().failed_reason === EXPIRED_REASON ? true : undefined,
    );
    expect(await queue.getJobState(expired.job_id)).toBe('failed');
    expect(await listed('expired')).toEqual([expired.job_id]);
    expect(await listed('failed')).toEqual([failed]);
    expect(await listed('waiting')).toEqual([]);
    expect((await page('state=expired', SAM)).jobs[0]).toMatchObject({
      state: 'expired',
      finished_at: expired.expires_at,
      failed_reason: EXPIRED_REASON,
    });
  });

  describe('jobs that are gone', () => {
    it('should no longer list a cancelled job, whose entries leave both indexes', async () => {
      const CARL = as('carl');
      const kept = await registerDelayed(CARL);
      const cancelled = await registerDelayed(CARL);
      expect(idsOf(await listAll(CARL))).toEqual([cancelled, kept]);

      const response = await app.inject({ method: 'DELETE', url: `${JOBS}/${cancelled}`, headers: CARL });

      expect(response.statusCode).toBe(204);
      expect(idsOf(await listAll(CARL))).toEqual([kept]);
      expect(idsOf(await listAll(ADMIN, 'owner=carl'))).toEqual([kept]);
      expect(await score(tenantIndex('carl'), cancelled)).toBeNull();
      expect(await score(GLOBAL_INDEX, cancelled)).toBeNull();
      expect(await score(tenantIndex('carl'), kept)).not.toBeNull();
      expect(await score(GLOBAL_INDEX, kept)).not.toBeNull();
      expect(await redis.command('ZCARD', tenantIndex('carl'))).toBe(1);

      // An admin's cancel takes the entry out of the owner's index too.
      const byAdmin = await registerDelayed(CARL);
      expect((await app.inject({ method: 'DELETE', url: `${JOBS}/${byAdmin}`, headers: ADMIN })).statusCode).toBe(204);
      expect(idsOf(await listAll(CARL))).toEqual([kept]);
      expect(await score(tenantIndex('carl'), byAdmin)).toBeNull();
      expect(await score(GLOBAL_INDEX, byAdmin)).toBeNull();
    });

    it('should no longer list a job that retention removed', async () => {
      const RITA = as('rita');
      const first = (await registered({ message: 'rita 1', delay_seconds: 0 }, RITA)).job_id;
      await untilPrinted('rita 1');
      await eventually(async () => ((await getJob(first, RITA)).json().state === 'completed' ? true : undefined));
      expect(idsOf(await listAll(RITA))).toEqual([first]);

      // Two jobs completed after it: JOB_KEEP_COMPLETED_COUNT=2 removes it.
      const second = (await registered({ message: 'rita 2', delay_seconds: 0 }, RITA)).job_id;
      const third = (await registered({ message: 'rita 3', delay_seconds: 0 }, RITA)).job_id;
      await untilPrinted('rita 2');
      await untilPrinted('rita 3');
      await eventually(async () => ((await queue.getJob(first)) === undefined ? true : undefined));

      const jobs = await listAll(RITA);
      expect(sorted(idsOf(jobs))).toEqual(sorted([second, third]));
      expect(jobs.map((job) => job.state)).toEqual(['completed', 'completed']);
      // The page is full and only the entry of the removed job follows: the last page.
      expect((await page('limit=2', RITA)).next_cursor).toBeNull();
      expect(idsOf(await listAll(ADMIN))).not.toContain(first);
      expect(idsOf(await listAll(RITA, 'state=completed', 1))).toEqual(idsOf(jobs));
    });

    it('should not list a job whose hash was deleted behind its back', async () => {
      const DORA = as('dora');
      const older = await registerDelayed(DORA);
      const deleted = await registerDelayed(DORA);
      const newer = await registerDelayed(DORA);
      expect(idsOf(await listAll(DORA))).toEqual([newer, deleted, older]);

      expect(await redis.command('DEL', `${PREFIX}:${SERVICE_QUEUE}:${deleted}`)).toBe(1);

      expect((await getJob(deleted, DORA)).statusCode).toBe(404);
      expect(idsOf(await listAll(DORA))).toEqual([newer, older]);
      expect(idsOf(await listAll(DORA, '', 1))).toEqual([newer, older]);
      expect(idsOf(await listAll(DORA, 'state=delayed', 1))).toEqual([newer, older]);
      expect(idsOf(await listAll(ADMIN))).not.toContain(deleted);
    });

    it('should answer a null next_cursor on the last job when only entries of jobs that are gone follow it', async () => {
      const OLGA = as('olga');
      const gone = [await registerDelayed(OLGA), await registerDelayed(OLGA)];
      const last = await registerDelayed(OLGA);
      for (const jobId of gone) expect(await redis.command('DEL', `${PREFIX}:${SERVICE_QUEUE}:${jobId}`)).toBe(1);

      expect(await page('', OLGA)).toEqual({ jobs: [expect.objectContaining({ job_id: last })], next_cursor: null });
      expect(await page('limit=1', OLGA)).toEqual({
        jobs: [expect.objectContaining({ job_id: last })],
        next_cursor: null,
      });
    });
  });

  it("should keep every index key in the queue's hash tag, without the subject in clear", async () => {
    await registerDelayed(as('kim'));
    await registerDelayed(as('Kim Lee <kim@example.com>'));

    const keys = (await redis.command('KEYS', '*')) as string[];

    expect(keys.filter((key) => !key.startsWith(`${PREFIX}:`))).toEqual([]);
    for (const subject of ['kim', 'Kim Lee <kim@example.com>']) {
      expect(keys).toContain(tenantIndex(subject));
      expect(await redis.command('TYPE', tenantIndex(subject))).toBe('zset');
    }
    expect(await redis.command('TYPE', GLOBAL_INDEX)).toBe('zset');
    const indexes = keys.filter((key) => key.endsWith(':jobs'));
    expect(indexes.length).toBeGreaterThanOrEqual(3);
    for (const key of indexes) expect(key).toMatch(/^\{dm-jobqueue-list\}:(tenant:[0-9a-f]{64}:)?jobs$/);
    expect(keys.filter((key) => /kim/i.test(key))).toEqual([]);
  });

  describe('bad parameters', () => {
    const LIMIT = 'limit must be an integer from 1 to 100';
    const STATE = 'state must be one of the following values: delayed, waiting, active, completed, failed, expired';
    const CURSOR = 'cursor must be a next_cursor this service gave out';
    const forged = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

    it.each([
      ['limit=0', [LIMIT]],
      ['limit=101', [LIMIT]],
      ['limit=abc', [LIMIT]],
      ['limit=1.5', [LIMIT]],
      ['limit=', [LIMIT]],
      ['state=bogus', [STATE]],
      ['state=Delayed', [STATE]],
      ['cursor=garbage', [CURSOR]],
      [`cursor=${forged(`1700000000000:${'x'.repeat(36)}`)}`, [CURSOR]],
      ['cursor=a%2Bb', [CURSOR]],
      ['foo=1', ['property foo should not exist']],
      ['state=delayed&state=failed', ['state must be given once']],
      ['limit=5&limit=6', ['limit must be given once']],
      ['owner=', ['owner must be 1 to 1024 characters of Unicode text']],
      ['foo=1&limit=0&state=x', ['property foo should not exist', STATE, LIMIT]],
    ])('should answer %s with 400', async (query, message) => {
      const before = await storedJobs(queue);

      const response = await list(query, ADMIN);

      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ statusCode: 400, message, error: 'Bad Request' });
      expect(await storedJobs(queue)).toBe(before);
    });

    it('should answer the same 400 to a tenant, before looking at the owner', async () => {
      const response = await list('owner=bob&limit=0', as('alice'));

      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ statusCode: 400, message: [LIMIT], error: 'Bad Request' });
    });
  });

  describe('while Redis is away', () => {
    it('should answer 503 with Retry-After at once while Redis is stopped', async () => {
      const NINA = as('nina');
      await registerDelayed(NINA);
      const cursor = Buffer.from(`${Date.now()}:${randomUUID()}`, 'utf8').toString('base64url');
      await redis.stop();
      try {
        for (const query of ['', 'state=delayed', `limit=1&cursor=${cursor}`, 'owner=nina']) {
          const started = performance.now();
          const response = await list(query, query === 'owner=nina' ? ADMIN : NINA);

          expect(response.statusCode).toBe(503);
          expect(response.json()).toEqual(UNAVAILABLE);
          expect(response.headers['retry-after']).toBe('5');
          expect(performance.now() - started).toBeLessThan(1_000); // REDIS_TIMEOUT_MS is 500
        }
        // A bad parameter is still a 400: answered without asking Redis.
        expect((await list('limit=0', NINA)).statusCode).toBe(400);
      } finally {
        await redis.restart();
        await app.untilReady();
        // This spec's own queue client reconnects too; closing it mid-reconnect would leave its retry timer.
        await storedJobs(queue);
      }
      // Answering again once Redis is back (the private server keeps no data across a restart).
      expect(await page('', NINA)).toEqual({ jobs: [], next_cursor: null });
    });
  });
});
