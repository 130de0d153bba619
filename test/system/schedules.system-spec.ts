// Recurring schedules (SPEC 6.5) on the built server (child processes, private redis-servers): occurrences printed
// exactly once across two workers, limit and end_at, tenants, and the rule after an outage (the service stopped,
// Redis killed, Redis frozen): an occurrence that fell due meanwhile runs once, late, when a worker is back; the
// next ones follow the schedule from then on; the missed ones are not made up.
import { randomUUID } from 'node:crypto';
import { testEnv } from '../support/app';
import { SERVICE_PREFIX, SERVICE_QUEUE } from '../support/queue';
import { RedisServer } from '../support/redis-server';
import { timesPrinted, untilSentinelPrinted } from '../support/sentinel';
import { ServerProcess } from '../support/server-process';
import { bearer, token } from '../support/tokens';
import { eventually, sleep } from '../support/wait';

jest.setTimeout(120_000);

const SCHEDULES = '/api/dm-jobqueue/schedules';
const JOBS = '/api/dm-jobqueue/jobs';
const NOT_FOUND = { statusCode: 404, message: 'Schedule not found', error: 'Not Found' };
// Occurrences every second; no rate limit in the way of the polling below.
const SCHEDULE_ENV = { SCHEDULE_MIN_INTERVAL_SECONDS: '1', RATE_LIMIT_PER_MINUTE: '0' };
// How long each outage lasts: several occurrences fall due meanwhile.
const OUTAGE_MS = 4_000;
// What Redis holds of a schedule: BullMQ's job schedulers (id -> next due ms) and the service's record.
const REPEAT_KEY = `${SERVICE_PREFIX}:${SERVICE_QUEUE}:repeat`;
const recordKey = (id: string): string => `${SERVICE_PREFIX}:schedule:${id}`;

interface ScheduleView {
  schedule_id: string;
  owner: string;
  state: 'active' | 'ended';
  message: string;
  cron: string | null;
  every_seconds: number | null;
  tz: string;
  end_at: string | null;
  limit: number | null;
  created_at: string;
  next_run_at: string | null;
  occurrences: number;
  ended_at: string | null;
}

interface OccurrenceView {
  job_id: string;
  schedule_id: string | null;
  state: string;
  message: string;
  run_at: string;
  processed_at: string | null;
}

const unique = (label: string): string => `${label} ${randomUUID().slice(0, 8)}`;
const tenant = (subject: string) => bearer(token({ subject }));
const at = (iso: string | null): number => Date.parse(iso!);
/** The differences between consecutive instants. */
const gaps = (instants: number[]): number[] => instants.slice(1).map((instant, i) => instant - instants[i]);
const describeJobs = (jobs: OccurrenceView[]): string =>
  JSON.stringify(jobs.map(({ job_id, state, run_at, processed_at }) => ({ job_id, state, run_at, processed_at })));

async function createSchedule(server: ServerProcess, body: object, who: Record<string, string>): Promise<ScheduleView> {
  const response = await server.fetch(SCHEDULES, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...who },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  expect({ status: response.status, answer }).toMatchObject({
    status: 201,
    answer: { schedule_id: expect.any(String) },
  });
  return answer as ScheduleView;
}

async function readSchedule(server: ServerProcess, id: string, who: Record<string, string>) {
  const response = await server.fetch(`${SCHEDULES}/${id}`, { headers: who });
  return { status: response.status, body: await response.json() };
}

async function deleteSchedule(server: ServerProcess, id: string, who: Record<string, string>) {
  const response = await server.fetch(`${SCHEDULES}/${id}`, { method: 'DELETE', headers: who });
  return { status: response.status, text: await response.text() };
}

/** The schedule's occurrences in the tenant's job list (every page), by due time. */
async function occurrencesOf(
  server: ServerProcess,
  scheduleId: string,
  who: Record<string, string>,
): Promise<OccurrenceView[]> {
  const found: OccurrenceView[] = [];
  let cursor: string | null = null;
  do {
    const response = await server.fetch(`${JOBS}?limit=100${cursor ? `&cursor=${cursor}` : ''}`, { headers: who });
    expect(response.status).toBe(200);
    const page = (await response.json()) as { jobs: OccurrenceView[]; next_cursor: string | null };
    found.push(...page.jobs.filter((job) => job.schedule_id === scheduleId));
    cursor = page.next_cursor;
  } while (cursor);
  return found.sort((a, b) => at(a.run_at) - at(b.run_at));
}

const untilPrinted = (servers: ServerProcess[], message: string, count: number, timeoutMs = 15_000) =>
  eventually(
    () => (timesPrinted(servers, message) >= count ? true : undefined),
    timeoutMs,
    () => `${count} lines of "${message}" (saw ${timesPrinted(servers, message)})`,
    50,
  );

/** The schedule's view once its worker has recorded its end. */
async function untilEnded(server: ServerProcess, id: string, who: Record<string, string>): Promise<ScheduleView> {
  let last: unknown;
  return eventually(
    async () => {
      const { status, body } = await readSchedule(server, id, who);
      last = body;
      return status === 200 && body.state === 'ended' && body.ended_at !== null ? (body as ScheduleView) : undefined;
    },
    15_000,
    () => `schedule ${id} to end; last view: ${JSON.stringify(last)}`,
    100,
  );
}

/** A sentinel job due a second from now, registered through `via`, printed by one of `printers`. */
const sentinel = (via: ServerProcess, printers: ServerProcess[]) =>
  untilSentinelPrinted(
    (body) => via.register(body),
    (message) => timesPrinted(printers, message),
    1,
    20_000,
  );

/** Every occurrence ran: the job id names the schedule and the due time, each one completed. */
function expectAllCompleted(jobs: OccurrenceView[], scheduleId: string): void {
  for (const job of jobs) {
    expect(job).toMatchObject({ schedule_id: scheduleId, state: 'completed', processed_at: expect.any(String) });
    expect(job.job_id).toBe(`repeat:${scheduleId}:${at(job.run_at)}`);
  }
}

describe('Recurring schedules on an API process and two workers', () => {
  let redis: RedisServer;
  let api: ServerProcess;
  let workers: ServerProcess[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    const env = (role: string) => testEnv(redis.url, { ...SCHEDULE_ENV, APP_ROLE: role });
    [api, ...workers] = await Promise.all([
      ServerProcess.start(env('api')),
      ServerProcess.start(env('worker')),
      ServerProcess.start(env('worker')),
    ]);
    await Promise.all([api, ...workers].map((server) => server.untilReady()));
  });

  afterAll(async () => {
    await Promise.all([api, ...workers].filter(Boolean).map((server) => server.kill()));
    await redis?.close();
  });

  it('should print every occurrence of an every_seconds and a 6-field cron schedule exactly once across both workers, one second apart, and none after DELETE', async () => {
    const who = tenant('sched-two-workers');
    const createdAt = Date.now();
    const every = await createSchedule(api, { message: unique('every second'), every_seconds: 1 }, who);
    const cron = await createSchedule(api, { message: unique('cron second'), cron: '* * * * * *', tz: 'UTC' }, who);
    expect(every).toMatchObject({ state: 'active', every_seconds: 1, cron: null, occurrences: 0 });
    expect(cron).toMatchObject({ state: 'active', every_seconds: null, cron: '* * * * * *', occurrences: 0 });
    // An every_seconds schedule is due at once; a cron's occurrences fall on whole seconds.
    expect(Math.abs(at(every.next_run_at) - createdAt)).toBeLessThan(2_000);
    expect(at(cron.next_run_at) % 1_000).toBe(0);

    await sleep(5_000);
    const deletedAt: Record<string, number> = {};
    for (const schedule of [every, cron]) {
      const deleted = await deleteSchedule(api, schedule.schedule_id, who);
      deletedAt[schedule.schedule_id] = Date.now();
      expect(deleted).toEqual({ status: 204, text: '' });
    }
    // Due after any occurrence that was pending at the DELETE: had one run, it would have printed by then.
    await sentinel(api, workers);

    for (const schedule of [every, cron]) {
      const jobs = await occurrencesOf(api, schedule.schedule_id, who);
      // About five seconds' worth.
      expect(jobs.length).toBeGreaterThanOrEqual(4);
      expectAllCompleted(jobs, schedule.schedule_id);
      // Each printed once, across both workers: as many lines as occurrences that ran.
      expect(timesPrinted(workers, schedule.message)).toBe(jobs.length);
      // Distinct due times, one second apart.
      const runAts = jobs.map((job) => at(job.run_at));
      expect(new Set(runAts).size).toBe(runAts.length);
      expect(gaps(runAts)).toEqual(runAts.slice(1).map(() => 1_000));
      // None started after its schedule's DELETE was answered.
      for (const job of jobs) expect(at(job.processed_at)).toBeLessThanOrEqual(deletedAt[schedule.schedule_id]);
      expect(await readSchedule(api, schedule.schedule_id, who)).toEqual({ status: 404, body: NOT_FOUND });
      // Gone from Redis too: no job scheduler left to add an occurrence.
      expect(await redis.command('ZSCORE', REPEAT_KEY, schedule.schedule_id)).toBeNull();
      // Its record is a tombstone that stops late retries of its occurrences, and expires.
      expect(await redis.command('HGETALL', recordKey(schedule.schedule_id))).toEqual([
        'owner',
        'sched-two-workers',
        'deleted',
        '1',
      ]);
      expect(Number(await redis.command('PTTL', recordKey(schedule.schedule_id)))).toBeGreaterThan(0);
    }
    expect(api.jobLines).toEqual([]);
    // Both workers took some of them.
    for (const worker of workers) {
      expect(worker.printed(every.message).length + worker.printed(cron.message).length).toBeGreaterThan(0);
    }
  });

  it('should end a schedule after `limit` occurrences, and have no occurrence due after end_at', async () => {
    const who = tenant('sched-ending');
    const endAt = Date.now() + 3_000;
    const limited = await createSchedule(api, { message: unique('limited'), every_seconds: 1, limit: 3 }, who);
    const until = await createSchedule(
      api,
      { message: unique('until'), every_seconds: 1, end_at: new Date(endAt).toISOString() },
      who,
    );
    expect(limited).toMatchObject({ state: 'active', limit: 3, end_at: null });
    expect(until).toMatchObject({ state: 'active', limit: null, end_at: new Date(endAt).toISOString() });

    const limitedEnded = await untilEnded(api, limited.schedule_id, who);
    const untilEndedView = await untilEnded(api, until.schedule_id, who);
    // One more interval, in which a fourth occurrence (or one past end_at) would fall due, then the sentinel.
    await sleep(1_500);
    await sentinel(api, workers);

    expect(limitedEnded).toMatchObject({ state: 'ended', occurrences: 3, next_run_at: null, limit: 3 });
    expect(timesPrinted(workers, limited.message)).toBe(3);
    const limitedJobs = await occurrencesOf(api, limited.schedule_id, who);
    expect(limitedJobs).toHaveLength(3);
    expectAllCompleted(limitedJobs, limited.schedule_id);
    expect(gaps(limitedJobs.map((job) => at(job.run_at)))).toEqual([1_000, 1_000]);

    const untilJobs = await occurrencesOf(api, until.schedule_id, who);
    expectAllCompleted(untilJobs, until.schedule_id);
    const runAts = untilJobs.map((job) => at(job.run_at));
    // Every slot from the first up to end_at ran, and none after it.
    expect(runAts.length).toBeGreaterThanOrEqual(2);
    expect(runAts).toEqual(
      Array.from({ length: Math.floor((endAt - runAts[0]) / 1_000) + 1 }, (_, i) => runAts[0] + i * 1_000),
    );
    for (const runAt of runAts) expect(runAt).toBeLessThanOrEqual(endAt);
    expect(timesPrinted(workers, until.message)).toBe(untilJobs.length);
    expect(untilEndedView).toMatchObject({ state: 'ended', next_run_at: null, occurrences: untilJobs.length });

    // Ended, the schedules have no job scheduler left in Redis; their records keep the end.
    for (const { schedule_id } of [limited, until]) {
      expect(await redis.command('ZSCORE', REPEAT_KEY, schedule_id)).toBeNull();
      expect(await redis.command('HEXISTS', recordKey(schedule_id), 'ended_at')).toBe(1);
    }
    // Ended is final: the views read the same after the sentinel.
    expect(await readSchedule(api, limited.schedule_id, who)).toEqual({ status: 200, body: limitedEnded });
    expect(await readSchedule(api, until.schedule_id, who)).toEqual({ status: 200, body: untilEndedView });
  });

  it("should answer another tenant's GET and DELETE with 404 as for an unknown schedule, and list none for it", async () => {
    const owner = tenant('sched-owner');
    const stranger = tenant('sched-stranger');
    const schedule = await createSchedule(api, { message: unique('mine'), cron: '0 9 * * *', tz: 'UTC' }, owner);

    expect(await readSchedule(api, schedule.schedule_id, stranger)).toEqual({ status: 404, body: NOT_FOUND });
    const refused = await deleteSchedule(api, schedule.schedule_id, stranger);
    expect({ status: refused.status, body: JSON.parse(refused.text) }).toEqual({ status: 404, body: NOT_FOUND });
    const listed = await api.fetch(SCHEDULES, { headers: stranger });
    expect(listed.status).toBe(200);
    expect(await listed.json()).toEqual({ schedules: [], next_cursor: null });

    // Still there for its owner, untouched.
    expect(await readSchedule(api, schedule.schedule_id, owner)).toEqual({ status: 200, body: schedule });
    const own = await api.fetch(SCHEDULES, { headers: owner });
    expect(await own.json()).toEqual({ schedules: [schedule], next_cursor: null });
    expect(await deleteSchedule(api, schedule.schedule_id, owner)).toEqual({ status: 204, text: '' });
    expect(await readSchedule(api, schedule.schedule_id, owner)).toEqual({ status: 404, body: NOT_FOUND });
  });
});

describe('Recurring schedules through outages (one APP_ROLE=all process, Redis with AOF)', () => {
  let redis: RedisServer;
  let server: ServerProcess;
  const servers: ServerProcess[] = [];

  const start = async () => {
    const started = await ServerProcess.start(testEnv(redis.url, { ...SCHEDULE_ENV, APP_ROLE: 'all' }));
    servers.push(started);
    await started.untilReady();
    return started;
  };

  beforeAll(async () => {
    // Persistent like docker-compose.yml, every write synced: a killed Redis comes back with its schedules.
    redis = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    server = await start();
  });

  afterAll(async () => {
    await Promise.all(servers.map((started) => started.kill()));
    await redis?.close();
  });

  /** An every_seconds and a cron schedule, each once a second, once both have printed twice. */
  const startSchedules = async (who: Record<string, string>): Promise<ScheduleView[]> => {
    const schedules = [
      await createSchedule(server, { message: unique('every'), every_seconds: 1 }, who),
      await createSchedule(server, { message: unique('cron'), cron: '* * * * * *', tz: 'UTC' }, who),
    ];
    for (const { message } of schedules) await untilPrinted([server], message, 2);
    return schedules;
  };

  /** Still there after the outage, as it was created, and running. */
  const expectStillThere = async (schedule: ScheduleView, who: Record<string, string>) => {
    const { status, body } = await readSchedule(server, schedule.schedule_id, who);
    expect(status).toBe(200);
    const { next_run_at: _next, occurrences: _occurrences, ...same } = schedule;
    expect(body).toMatchObject({ ...same, state: 'active' });
    expect(body.occurrences).toBeGreaterThanOrEqual(2);
    expect(await redis.command('ZSCORE', REPEAT_KEY, schedule.schedule_id)).not.toBeNull();
  };

  /**
   * Waits for three more lines of each schedule (the late one and two on schedule), deletes them, waits for a
   * sentinel, then checks that each line is an occurrence, and the rule after the outage that began at `downAt`
   * (nothing ran after it) and ended at `backAt` (nothing could run before it).
   */
  const expectOutageRule = async (
    schedules: ScheduleView[],
    who: Record<string, string>,
    printers: ServerProcess[],
    downAt: number,
    backAt: number,
  ) => {
    const printedBefore = schedules.map(({ message }) => timesPrinted(printers, message));
    for (const [i, { message }] of schedules.entries()) await untilPrinted(printers, message, printedBefore[i] + 3);
    for (const { schedule_id } of schedules) {
      expect(await deleteSchedule(server, schedule_id, who)).toEqual({ status: 204, text: '' });
    }
    await sentinel(server, [server]);

    for (const schedule of schedules) {
      const jobs = await occurrencesOf(server, schedule.schedule_id, who);
      const what = `${schedule.cron ? 'cron' : 'every_seconds'} occurrences ${describeJobs(jobs)}`;
      expectAllCompleted(jobs, schedule.schedule_id);
      expect({ what, printed: timesPrinted(printers, schedule.message) }).toEqual({ what, printed: jobs.length });

      const before = jobs.filter((job) => at(job.processed_at) < downAt);
      expect({ what, before: before.length >= 2 }).toEqual({ what, before: true });
      const last = before[before.length - 1];
      // Exactly one occurrence fell due between the last one that ran before the outage and its end ...
      const meanwhile = jobs.filter((job) => at(job.run_at) > at(last.run_at) && at(job.run_at) <= backAt);
      expect({ what, meanwhile: meanwhile.length }).toEqual({ what, meanwhile: 1 });
      const [late] = meanwhile;
      // ... the one due next, which ran late, once a worker was back.
      expect(at(late.run_at) - at(last.run_at)).toBe(1_000);
      expect(at(late.processed_at)).toBeGreaterThanOrEqual(backAt);
      expect(at(late.processed_at) - at(late.run_at)).toBeGreaterThan(OUTAGE_MS / 2);

      // From then on, on schedule: the next one is due within the second after the late one ran (the missed ones
      // are not made up), then one a second, each on time.
      const after = jobs.filter((job) => at(job.run_at) > at(late.run_at));
      expect(after.length).toBeGreaterThanOrEqual(2);
      expect(at(after[0].run_at)).toBeGreaterThan(at(late.processed_at));
      expect(at(after[0].run_at) - at(late.processed_at)).toBeLessThanOrEqual(1_000);
      expect(gaps(after.map((job) => at(job.run_at)))).toEqual(after.slice(1).map(() => 1_000));
      for (const job of after) expect(at(job.processed_at) - at(job.run_at)).toBeLessThan(1_000);
      // No burst: in the second from the late one, at most one more started. (Not 1.5 s: an every_seconds schedule
      // keeps its phase, so its next slot may come a few ms after the late one, and the one after that 1 s later.)
      const burst = jobs.filter(
        (job) => at(job.processed_at) >= at(late.processed_at) && at(job.processed_at) < at(late.processed_at) + 1_000,
      );
      expect({ what, burst: burst.length <= 2 }).toEqual({ what, burst: true });
    }
  };

  it('should keep a schedule through a service restart (SIGTERM), run the occurrence due meanwhile once, late, then go on on schedule', async () => {
    const who = tenant('sched-service-restart');
    const schedules = await startSchedules(who);
    const first = server;

    expect(await first.stop()).toEqual({ code: 0, signal: null });
    const downAt = Date.now();
    await sleep(OUTAGE_MS);
    const backAt = Date.now();
    server = await start();

    for (const schedule of schedules) await expectStillThere(schedule, who);
    await expectOutageRule(schedules, who, [first, server], downAt, backAt);
  });

  it('should keep a schedule through a Redis SIGKILL and restart (AOF), run the occurrence due meanwhile once, late, then go on on schedule', async () => {
    const who = tenant('sched-redis-restart');
    const schedules = await startSchedules(who);

    const downAt = Date.now();
    await redis.kill();
    await eventually(
      async () => ((await server.fetch('/health/ready')).status === 503 ? true : undefined),
      5_000,
      'readiness to answer 503 while Redis is down',
    );
    await sleep(OUTAGE_MS);
    const backAt = Date.now();
    await redis.restart();
    await server.untilReady(20_000);

    for (const schedule of schedules) await expectStillThere(schedule, who);
    await expectOutageRule(schedules, who, [server], downAt, backAt);
  });

  it('should run the occurrence due while Redis was frozen once, late, then go on on schedule', async () => {
    const who = tenant('sched-redis-frozen');
    const schedules = await startSchedules(who);

    const downAt = Date.now();
    redis.freeze();
    await sleep(OUTAGE_MS);
    const backAt = Date.now();
    redis.resume();
    await server.untilReady(20_000);

    for (const schedule of schedules) await expectStillThere(schedule, who);
    await expectOutageRule(schedules, who, [server], downAt, backAt);
  });

  it('should have logged no unhandled error through all of it', () => {
    for (const started of servers) {
      expect(started.stdout + started.stderr).not.toMatch(/ExceptionsHandler|Internal server error|Unhandled/);
    }
    expect(server.child.exitCode).toBeNull();
  });
});
