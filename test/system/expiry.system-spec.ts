// expires_at (SPEC 5.2, 6.4) on the built server: a job that has not started by its expires_at never prints,
// whatever made it late (no worker, a Redis outage, a paused worker with a backlog, a worker that died in it), its
// view says `expired` with finished_at = expires_at, and it stops counting against its tenant's pending quota at
// once (SPEC 6.3). Each scenario has a private Redis and its own processes.
import { createHash, randomUUID } from 'node:crypto';
import { testEnv } from '../support/app';
import { serviceQueue, SERVICE_PREFIX } from '../support/queue';
import { RedisServer } from '../support/redis-server';
import { untilAllPrinted, untilSentinelPrinted } from '../support/sentinel';
import { ServerProcess } from '../support/server-process';
import { untilStuckInAJob } from '../support/stuck-worker';
import { bearer, token } from '../support/tokens';
import { eventually, sleep } from '../support/wait';

jest.setTimeout(90_000);

const JOBS = '/api/dm-jobqueue/jobs';
const EXPIRED_REASON = 'Job expired before it started';
const QUOTA_EXCEEDED = { statusCode: 429, message: 'Pending job quota exceeded', error: 'Too Many Requests' };
// Short lock and stalled intervals, so a dead worker's job is taken back in about a second.
const FAST_RECOVERY = { WORKER_LOCK_DURATION_MS: '1000', WORKER_STALLED_INTERVAL_MS: '500' };

/** An RFC 3339 instant `ms` from now. */
const inFuture = (ms: number): string => new Date(Date.now() + ms).toISOString();
const unique = (label: string): string => `${label} ${randomUUID().slice(0, 8)}`;
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
/** The tenant's quota sets as the service names them: `<prefix>:tenant:<sha256(sub)>:pending` and `:expiring`. */
const pendingKey = (sub: string): string => `${SERVICE_PREFIX}:tenant:${sha256(sub)}:pending`;
const expiringKey = (sub: string): string => `${SERVICE_PREFIX}:tenant:${sha256(sub)}:expiring`;

/** The value of one sample in Prometheus text; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Whether the process answers HTTP at all within `ms`: one blocked in a write does not. */
interface JobView {
  job_id: string;
  state: string;
  message: string;
  expires_at: string | null;
  processed_at: string | null;
  finished_at: string | null;
  failed_reason: string | null;
}

describe('expires_at on the built server', () => {
  const servers: ServerProcess[] = [];
  const redises: RedisServer[] = [];

  const startRedis = async (args: string[] = []) => {
    const redis = await RedisServer.start({ args });
    redises.push(redis);
    return redis;
  };
  const start = async (redis: RedisServer, env: Record<string, string>, tty = false) => {
    const server = await ServerProcess.start(testEnv(redis.url, { RATE_LIMIT_PER_MINUTE: '0', ...env }), true, tty);
    servers.push(server);
    return server;
  };

  afterEach(async () => {
    // SIGKILL also ends a process stopped with SIGSTOP or blocked in a write.
    await Promise.all(servers.splice(0).map((server) => server.kill()));
    await Promise.all(redises.splice(0).map((redis) => redis.close()));
  });

  const register = async (server: ServerProcess, body: object, who = bearer()) => {
    const response = await server.register(body, who);
    return { status: response.status, body: await response.json() };
  };
  /** Registers a job due in about `dueInMs` that expires `expiresInMs` from now (none when undefined). */
  const registerDue = async (
    server: ServerProcess,
    message: string,
    dueInMs: number,
    expiresInMs?: number,
    who = bearer(),
  ): Promise<{ jobId: string; expiresAt: string | undefined }> => {
    const expiresAt = expiresInMs === undefined ? undefined : inFuture(expiresInMs);
    const created = await register(
      server,
      { message, run_at: inFuture(dueInMs), ...(expiresAt && { expires_at: expiresAt }) },
      who,
    );
    expect(created.status).toBe(201);
    expect(created.body.expires_at).toBe(expiresAt ?? null);
    return { jobId: created.body.job_id, expiresAt };
  };
  const view = async (server: ServerProcess, jobId: string, who = bearer()): Promise<JobView> => {
    const response = await server.fetch(`${JOBS}/${jobId}`, { headers: who });
    expect(response.status).toBe(200);
    return (await response.json()) as JobView;
  };
  /** Polls the job's view until `check` accepts it. */
  const viewUntil = (server: ServerProcess, jobId: string, check: (job: JobView) => boolean, what: string) => {
    let last: JobView | undefined;
    return eventually(
      async () => {
        last = await view(server, jobId);
        return check(last) ? last : undefined;
      },
      30_000,
      () => `${what}; last view: ${JSON.stringify(last)}`,
      100,
    );
  };
  /** Dropped by a worker: the positive event a "never printed" needs besides the sentinel. */
  const untilDropped = (server: ServerProcess, jobId: string) =>
    viewUntil(
      server,
      jobId,
      (job) => job.state === 'expired' && job.failed_reason === EXPIRED_REASON,
      `job ${jobId} to be dropped by a worker`,
    );
  const sentinel = (via: ServerProcess, printers: ServerProcess[], delaySeconds = 1) =>
    untilSentinelPrinted(
      (body) => via.register(body),
      (message) => printers.reduce((sum, server) => sum + server.printed(message).length, 0),
      delaySeconds,
      30_000,
    );
  const expiredMetric = async (server: ServerProcess): Promise<number | undefined> => {
    const response = await server.fetch('/metrics');
    expect(response.status).toBe(200);
    return sample(await response.text(), 'dm_jobqueue_jobs_expired_total');
  };
  /** Resolves once the wall clock is past `instant` (plus a margin). */
  const untilPast = async (instant: string, marginMs = 200) => {
    const left = Date.parse(instant) + marginMs - Date.now();
    if (left > 0) await sleep(left);
  };

  it('should show a job that no worker took by its expires_at as expired, and never print it once a worker starts', async () => {
    const redis = await startRedis();
    const api = await start(redis, { APP_ROLE: 'api' });
    await api.untilReady();

    const expiring = [unique('expiring'), unique('expiring')];
    const late = unique('late');
    const jobs = [];
    for (const message of expiring) jobs.push({ message, ...(await registerDue(api, message, 1_000, 2_000)) });
    const lateJob = await registerDue(api, late, 1_000);
    await untilPast(jobs[1].expiresAt!);

    // No worker yet: past its expires_at the job reads as expired, ended at its expires_at, never started.
    for (const { jobId, message, expiresAt } of jobs) {
      expect(await view(api, jobId)).toMatchObject({
        state: 'expired',
        message,
        expires_at: expiresAt,
        finished_at: expiresAt,
        processed_at: null,
        failed_reason: null,
      });
    }
    expect(['delayed', 'waiting']).toContain((await view(api, lateJob.jobId)).state);
    const listed = await api.fetch(`${JOBS}?state=expired`, { headers: bearer() });
    expect(listed.status).toBe(200);
    const list = (await listed.json()) as { jobs: JobView[]; next_cursor: string | null };
    expect(list.jobs.map((job) => job.job_id).sort()).toEqual(jobs.map((job) => job.jobId).sort());
    expect(list.jobs.every((job) => job.state === 'expired')).toBe(true);

    const worker = await start(redis, { APP_ROLE: 'worker' });
    await worker.untilReady();
    for (const { jobId } of jobs) await untilDropped(api, jobId);
    await sentinel(api, [worker]);
    await eventually(() => (worker.printed(late).length > 0 ? true : undefined), 10_000, 'the late job to print');

    expect(worker.printed(late)).toHaveLength(1);
    for (const message of expiring) expect(worker.printed(message)).toEqual([]);
    expect(api.jobLines).toEqual([]);
    for (const { jobId, expiresAt } of jobs) {
      expect(await view(api, jobId)).toMatchObject({
        state: 'expired',
        expires_at: expiresAt,
        finished_at: expiresAt,
        failed_reason: EXPIRED_REASON,
      });
    }
    expect((await view(api, lateJob.jobId)).state).toBe('completed');
    // A worker-only process serves /metrics too (MetricsModule is in every role); the counter is this process's.
    expect(await expiredMetric(worker)).toBe(expiring.length);
    // Every place is released: the jobs started or were dropped.
    await eventually(
      async () => ((await redis.command('EXISTS', pendingKey('e2e'), expiringKey('e2e'))) === 0 ? true : undefined),
      5_000,
      'the pending and expiring sets to empty',
    );
  });

  it("should stop counting an expired job against its tenant's pending quota at once, with no worker", async () => {
    const redis = await startRedis();
    const api = await start(redis, { APP_ROLE: 'api', TENANT_MAX_PENDING_JOBS: '3' });
    await api.untilReady();
    const sub = 'quota-expiry';
    const who = bearer(token({ subject: sub }));

    const expiring = [];
    for (let i = 0; i < 3; i++) expiring.push(await registerDue(api, unique('holds a place'), 1_000, 2_000, who));
    expect(await register(api, { delay_seconds: 3600 }, who)).toEqual({ status: 429, body: QUOTA_EXCEEDED });
    expect(await redis.command('ZCARD', pendingKey(sub))).toBe(3);
    expect(await redis.command('ZCARD', expiringKey(sub))).toBe(3);

    await untilPast(expiring[2].expiresAt!);
    const after = await register(api, { delay_seconds: 3600 }, who);

    expect(after.status).toBe(201);
    // The expired places went with that registration; the jobs themselves are still there, expired.
    expect(await redis.command('ZRANGE', pendingKey(sub), 0, -1)).toEqual([after.body.job_id]);
    expect(await redis.command('EXISTS', expiringKey(sub))).toBe(0);
    for (const { jobId } of expiring) expect((await view(api, jobId, who)).state).toBe('expired');
    // Still exact: two more fit, the one after them does not.
    expect((await register(api, { delay_seconds: 3600 }, who)).status).toBe(201);
    expect((await register(api, { delay_seconds: 3600 }, who)).status).toBe(201);
    expect(await register(api, { delay_seconds: 3600 }, who)).toEqual({ status: 429, body: QUOTA_EXCEEDED });
    expect(await redis.command('ZCARD', pendingKey(sub))).toBe(3);
  });

  // Persistence is on for the stopped Redis, so that it comes back with its data, as a production Redis does.
  it.each([
    ['frozen (SIGSTOP)', 'freeze'],
    ['stopped and restarted', 'restart'],
  ])('should never print a job whose expires_at passed while Redis was %s', async (_, fault) => {
    const redis = await startRedis(fault === 'restart' ? ['--appendonly', 'yes', '--appendfsync', 'always'] : []);
    const server = await start(redis, {});
    await server.untilReady();
    const message = unique('outage');
    const survivor = unique('survivor');

    // Due 3 s ahead: the outage below starts well before any worker could take it.
    const job = await registerDue(server, message, 3_000, 4_000);
    const before = await registerDue(server, survivor, 3_000);
    if (fault === 'freeze') redis.freeze();
    else await redis.stop();
    await untilPast(job.expiresAt!, 1_000);
    if (fault === 'freeze') redis.resume();
    else await redis.restart();
    await server.untilReady(30_000);

    await untilDropped(server, job.jobId);
    await sentinel(server, [server]);
    await eventually(() => (server.printed(survivor).length > 0 ? true : undefined), 10_000, 'the other job to print');

    expect(server.printed(message)).toEqual([]);
    expect(server.printed(survivor)).toHaveLength(1);
    expect((await view(server, before.jobId)).state).toBe('completed');
    expect(await view(server, job.jobId)).toMatchObject({ finished_at: job.expiresAt, expires_at: job.expiresAt });
    expect(await expiredMetric(server)).toBe(1);
  });

  it('should never print a job that expired in a backlog behind a paused worker (WORKER_CONCURRENCY=1)', async () => {
    const redis = await startRedis();
    const api = await start(redis, { APP_ROLE: 'api' });
    const worker = await start(redis, { APP_ROLE: 'worker', WORKER_CONCURRENCY: '1' });
    await Promise.all([api.untilReady(), worker.untilReady()]);

    // Paused, the worker takes nothing, however long the backlog waits: the job's lateness does not depend on how
    // fast the machine is.
    process.kill(worker.child.pid!, 'SIGSTOP');
    const ahead = Array.from({ length: 30 }, () => unique('ahead'));
    for (const message of ahead) expect((await register(api, { message, delay_seconds: 0 })).status).toBe(201);
    const message = unique('in the backlog');
    const job = await registerDue(api, message, 1_000, 2_000);
    const behind = unique('behind');
    await registerDue(api, behind, 1_000);
    await untilPast(job.expiresAt!);
    expect((await view(api, job.jobId)).state).toBe('expired');
    process.kill(worker.child.pid!, 'SIGCONT');

    await untilAllPrinted([worker], [...ahead, behind], api, 1, 30_000);
    await untilDropped(api, job.jobId);

    expect(worker.printed(message)).toEqual([]);
    for (const printed of [...ahead, behind]) expect(worker.printed(printed)).toHaveLength(1);
    expect(await expiredMetric(worker)).toBe(1);
  });

  // A failed attempt and its backoff retry cannot be caused honestly here: the worker's attempt only writes to
  // standard output, which does not fail, and rejects only for expiry. The retry a user can meet is stalled-job
  // recovery (SPEC 5.3): a worker dies in a job and another runs it again. Done after expires_at, it must not print.
  it('should not run again a job whose worker died in it, once its expires_at has passed (stalled-job recovery)', async () => {
    const redis = await startRedis();
    const queue = serviceQueue(redis.url);
    try {
      const api = await start(redis, { APP_ROLE: 'api' });
      // Its standard output is a terminal nobody reads: a job line blocks the whole process in the middle of its
      // job, and the job's lock is no longer renewed (as in process-faults.system-spec.ts).
      const stuck = await start(redis, { ...FAST_RECOVERY, APP_ROLE: 'worker', WORKER_CONCURRENCY: '1' }, true);
      await Promise.all([api.untilReady(), stuck.untilReady()]);
      stuck.child.stdout!.pause();

      // Every job expires 25 s from now: long enough for the worker to get stuck, whatever the machine's load.
      const expiresAt = inFuture(25_000);
      // More than the pipe and the terminal buffer hold together.
      const messages = Array.from({ length: 60 }, () => unique(`${'x'.repeat(9_000)} stalled`));
      const ids = new Map<string, string>();
      for (const message of messages) {
        const created = await register(api, { message, delay_seconds: 0, expires_at: expiresAt });
        expect(created.status).toBe(201);
        ids.set(message, created.body.job_id);
      }
      // Stuck, not slow (see untilStuckInAJob): it cannot finish that job before the kill below.
      await untilStuckInAJob(queue, stuck, 20_000);
      await stuck.kill();
      const [active] = await queue.getActive();
      expect(active).toBeDefined();
      expect(active.data.expires_at).toBe(Date.parse(expiresAt));
      // The premise: it started before its expires_at, and died in it.
      expect(active.processedOn).toBeLessThan(Date.parse(expiresAt));
      const doneBefore = new Set((await queue.getCompleted(0, -1)).map((job) => job.data.message as string));
      const remaining = messages.filter((message) => !doneBefore.has(message));
      expect(remaining).toContain(active.data.message);

      await untilPast(expiresAt);
      const rescuer = await start(redis, { APP_ROLE: 'worker', WORKER_STALLED_INTERVAL_MS: '500' });
      await rescuer.untilReady();

      const died = await untilDropped(api, active.id!);
      await sentinel(api, [rescuer]);
      for (const message of remaining) await untilDropped(api, ids.get(message)!);

      expect(died).toMatchObject({ finished_at: expiresAt, failed_reason: EXPIRED_REASON });
      for (const message of remaining) expect(rescuer.printed(message)).toEqual([]);
      expect(await expiredMetric(rescuer)).toBe(remaining.length);
      expect(await queue.getActiveCount()).toBe(0);
    } finally {
      await queue.close();
    }
  }, 120_000);
});
