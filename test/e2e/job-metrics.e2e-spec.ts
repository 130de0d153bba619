// SPEC 6.2's pain-point metrics on /metrics, through the real AppModule on a private redis-server: the lateness of
// every attempt (first ones and retries), jobs taken back from a stalled worker, and the oldest waiting job's age.
import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import { JobProcessor } from '../../src/jobs/worker/job.processor';
import { failFirstAttempt } from '../support/failing-attempt';
import { JobsApp, startJobsApp } from '../support/jobs-app';
import { SERVICE_QUEUE } from '../support/queue';
import { bearer } from '../support/tokens';
import { eventually, sleep } from '../support/wait';

jest.setTimeout(60_000);

const PREFIX = '{dm-jobqueue-metrics}';
const unique = (what: string) => `${what} ${randomUUID().slice(0, 8)}`;

describe('Pain-point metrics', () => {
  let fixture: JobsApp;
  const spies: jest.SpyInstance[] = [];

  beforeAll(async () => {
    // A short lock and a frequent stalled check, so that a job left by a stopped worker is taken back within seconds.
    fixture = await startJobsApp({
      QUEUE_PREFIX: PREFIX,
      WORKER_LOCK_DURATION_MS: '1000',
      WORKER_STALLED_INTERVAL_MS: '500',
      JOB_BACKOFF_MS: '1000',
    });
  });

  afterEach(() => {
    for (const spy of spies.splice(0)) spy.mockRestore();
  });

  afterAll(() => fixture?.close());

  /** The value of one series on /metrics (NaN when absent). */
  const metric = async (series: string): Promise<number> => {
    const text = (await fixture.app.inject({ method: 'GET', url: '/metrics' })).body;
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
    return line === undefined ? NaN : Number(line.slice(series.length + 1));
  };
  const lateness = (le: string) => metric(`dm_jobqueue_job_lateness_seconds_bucket{le="${le}"}`);
  const register = async (body: object) => {
    const response = await fixture.app.inject({
      method: 'POST',
      url: '/api/dm-jobqueue/register',
      headers: { 'content-type': 'application/json', ...bearer() },
      payload: JSON.stringify(body),
    });
    expect(response.statusCode).toBe(201);
    return response.json<{ job_id: string }>();
  };
  const untilPrinted = (message: string, count = 1) =>
    fixture.lines.waitFor((line) => line.endsWith(`] ${message}`), count, 15_000);

  it('should observe the lateness of a first attempt and of a retry, each measured from when it was due', async () => {
    const message = unique('retried');
    spies.push(failFirstAttempt(fixture.app.app.get(JobProcessor), message));
    const [count, onTime] = await Promise.all([metric('dm_jobqueue_job_lateness_seconds_count'), lateness('1')]);
    await register({ message, delay_seconds: 1, max_retry: 1 });
    // The first attempt when due (1 s), the retry after the backoff (1 s): both start well within a second of that.
    await untilPrinted(message, 2);
    await eventually(
      async () => ((await metric('dm_jobqueue_job_lateness_seconds_count')) === count + 2 ? true : undefined),
      5_000,
      'two attempts observed',
    );
    expect(await lateness('1')).toBe(onTime + 2);
    expect(await lateness('+Inf')).toBe(count + 2);
  });

  it('should report the age of the oldest due job waiting for a worker, and 0 once none waits', async () => {
    // The queue paused: due jobs wait, and no worker takes them.
    await fixture.queue.pause();
    const message = unique('waiting');
    try {
      const { job_id: jobId } = await register({ message, delay_seconds: 0 });
      await sleep(2_000);
      expect(await fixture.queue.getJobState(jobId)).toBe('waiting');
      expect(await metric('dm_jobqueue_oldest_waiting_job_age_seconds{queue="jobs"}')).toBeGreaterThanOrEqual(1.9);
    } finally {
      await fixture.queue.resume();
    }
    await untilPrinted(message);
    await sleep(1_100); // past the one-second read cache
    expect(await metric('dm_jobqueue_oldest_waiting_job_age_seconds{queue="jobs"}')).toBe(0);
  });

  it('should count a job taken back from a worker that stopped renewing its lock, and run it', async () => {
    const appWorker = fixture.app.app.get(JobProcessor).worker;
    // Another process takes the job, then stops (never renews its 1 s lock, never finishes it).
    const other = new Worker(SERVICE_QUEUE, null, {
      connection: { url: fixture.redis.url, maxRetriesPerRequest: null },
      prefix: PREFIX,
      autorun: false,
      lockDuration: 1_000,
    });
    other.on('error', () => undefined);
    const stalled = await metric('dm_jobqueue_jobs_stalled_total');
    await appWorker.pause(true);
    // A paused worker still ends the wait it was in: a first job, which it takes and runs, ends that wait, so that the
    // next one is left for the other worker.
    const first = unique('before the pause');
    await register({ message: first, delay_seconds: 0 });
    await untilPrinted(first);
    await sleep(200);
    try {
      const message = unique('stalled');
      const { job_id: jobId } = await register({ message, delay_seconds: 0 });
      const taken = await other.getNextJob(randomUUID());
      expect(taken?.id).toBe(jobId);
      appWorker.resume();
      await untilPrinted(message);
      expect(await metric('dm_jobqueue_jobs_stalled_total')).toBe(stalled + 1);
    } finally {
      appWorker.resume();
      await other.close(true);
    }
  });
});
