// Metrics, structured logs and request ids (SPEC 6.2) on the built server (node dist/main.js) as a user runs it.
import { RedisServer } from '../support/redis-server';
import { ServerProcess } from '../support/server-process';
import { eventually, sleep } from '../support/wait';
import { QUEUE_READ_CACHE_MS } from '../../src/observability/metrics/queue.metrics';
import { testEnv } from '../support/app';
import { bearer, token } from '../support/tokens';
import { JOB_LINE } from '../support/job-lines';

jest.setTimeout(60_000);

const REGISTER = '/api/dm-jobqueue/register';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The value of one sample in Prometheus text, such as `name{label="x"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Every line the server wrote that is not a job line, parsed as JSON (fails on a line that is not). */
function logLines(server: ServerProcess): Record<string, unknown>[] {
  return server.stdout
    .split('\n')
    .filter((line) => line !== '' && !JOB_LINE.test(line))
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });
}

async function scrape(server: ServerProcess): Promise<string> {
  const response = await server.fetch('/metrics');
  expect(response.status).toBe(200);
  return response.text();
}

/** Scrapes until `check` accepts the text (counters move a moment after the job line is printed). */
async function scrapeUntil(
  server: ServerProcess,
  check: (text: string) => boolean,
  timeoutMs = 5_000,
): Promise<string> {
  let text = '';
  return eventually(
    async () => {
      text = await scrape(server);
      return check(text) ? text : undefined;
    },
    timeoutMs,
    () => `metrics to match; last scrape:\n${text}`,
    50,
  );
}

describe('observability of the built server', () => {
  let redis: RedisServer;
  let server: ServerProcess;
  // One token for every request of this client: the limit below counts per token.
  const secret = token({ subject: 'observability' });
  const auth = bearer(secret);
  const others: ServerProcess[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    // A low limit, to show /metrics and the probes are not limited while the API is; every log level, to
    // show that even the most talkative log holds no credential.
    server = await ServerProcess.start(testEnv(redis.url, { RATE_LIMIT_PER_MINUTE: '6', LOG_LEVEL: 'trace' }));
    await server.untilReady();
  });

  afterAll(async () => {
    await Promise.all([server, ...others].map((each) => each?.kill()));
    await redis?.close();
  });

  describe('request ids', () => {
    it('should echo a sane X-Request-Id and log the request under it', async () => {
      const response = await server.register(
        { message: 'observability job', delay_seconds: 0 },
        { ...auth, 'x-request-id': 'obs-req-1' },
      );

      expect(response.status).toBe(201);
      expect(response.headers.get('x-request-id')).toBe('obs-req-1');
      await server.waitForOutput(/"reqId":"obs-req-1"/);
    });

    it.each([
      ['none', undefined],
      ['too long', 'x'.repeat(129)],
      ['with a space and a quote', 'a b"c'],
    ])('should generate a UUID when the caller sent %s', async (_, sent) => {
      const response = await server.fetch('/health/live', {
        headers: sent === undefined ? {} : { 'x-request-id': sent },
      });

      expect(response.headers.get('x-request-id')).toMatch(UUID);
    });
  });

  describe('GET /metrics', () => {
    it('should answer Prometheus text without a token: job counters, queue depth, HTTP durations, process metrics', async () => {
      await server.waitForOutput(/\] observability job\n/);

      // The queue gauges are read at most once a second: until the job shows as completed there too.
      const text = await scrapeUntil(
        server,
        (body) =>
          (sample(body, 'dm_jobqueue_jobs_completed_total') ?? 0) >= 1 &&
          (sample(body, 'dm_jobqueue_queue_jobs{state="completed"}') ?? 0) >= 1,
      );

      expect(sample(text, 'dm_jobqueue_jobs_registered_total')).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'dm_jobqueue_jobs_completed_total')).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'dm_jobqueue_jobs_failed_total')).toBe(0);
      expect(sample(text, 'dm_jobqueue_jobs_retried_total')).toBe(0);
      for (const state of ['waiting', 'delayed', 'active', 'failed']) {
        expect(sample(text, `dm_jobqueue_queue_jobs{state="${state}"}`)).toBe(0);
      }
      expect(sample(text, 'dm_jobqueue_queue_jobs{state="completed"}')).toBeGreaterThanOrEqual(1);
      // The pain points: the job started on time, none stalled, none waits.
      expect(sample(text, 'dm_jobqueue_job_lateness_seconds_count')).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'dm_jobqueue_job_lateness_seconds_bucket{le="1"}')).toBe(
        sample(text, 'dm_jobqueue_job_lateness_seconds_count'),
      );
      expect(sample(text, 'dm_jobqueue_jobs_stalled_total')).toBe(0);
      expect(sample(text, 'dm_jobqueue_oldest_waiting_job_age_seconds{queue="jobs"}')).toBe(0);
      // The memory of the Redis that holds the queue, as INFO says it; this one has no limit.
      expect(sample(text, 'dm_jobqueue_redis_memory_used_bytes{queue="jobs"}')).toBeGreaterThan(100_000);
      expect(sample(text, 'dm_jobqueue_redis_memory_max_bytes{queue="jobs"}')).toBe(0);
      // Readiness as the probe answers it, for the alert on it.
      for (const check of ['redis', 'worker', 'all'])
        expect(sample(text, `dm_jobqueue_ready{check="${check}"}`)).toBe(1);
      expect(
        sample(
          text,
          'http_request_duration_seconds_count{method="POST",route="/api/dm-jobqueue/register",status_code="201"}',
        ),
      ).toBeGreaterThanOrEqual(1);
      expect(text).toContain(
        'http_request_duration_seconds_bucket{le="0.005",method="POST",route="/api/dm-jobqueue/register"',
      );
      expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
      expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
    });

    it('should report the Redis memory limit as it is set, and the memory in use as Redis counts it', async () => {
      await redis.command('CONFIG', 'SET', 'maxmemory', String(512 * 1024 * 1024));
      try {
        const text = await scrapeUntil(
          server,
          (body) => sample(body, 'dm_jobqueue_redis_memory_max_bytes{queue="jobs"}') === 512 * 1024 * 1024,
        );
        const info = String(await redis.command('INFO', 'memory'));
        const used = Number(/used_memory:(\d+)/.exec(info)![1]);
        // Read within a second of each other: the same Redis, give or take what a second of traffic allocates.
        expect(Math.abs(sample(text, 'dm_jobqueue_redis_memory_used_bytes{queue="jobs"}')! - used)).toBeLessThan(
          used / 2,
        );
      } finally {
        await redis.command('CONFIG', 'SET', 'maxmemory', '0');
      }
    });

    it('should say it is Prometheus text format', async () => {
      const response = await server.fetch('/metrics');

      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    });

    it('should never be rate limited, while the API is', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 15; i++) {
        const response = await server.fetch('/metrics');
        await response.text();
        expect(response.headers.get('x-ratelimit-limit')).toBeNull();
        statuses.push(response.status);
      }
      const limited = await server.register({}, {});

      expect(statuses.every((status) => status === 200)).toBe(true);
      expect(limited.headers.get('x-ratelimit-limit')).toBe('6');
    });

    it('should label every unknown path as one route, never by its URL', async () => {
      for (const path of ['/wp-login.php', '/.env', '/api/dm-jobqueue/nope/123'])
        await (await server.fetch(path)).text();

      const text = await scrape(server);

      expect(text).toMatch(
        /http_request_duration_seconds_count\{method="GET",route="unmatched",status_code="404"\} \d+/,
      );
      expect(text).not.toMatch(/wp-login|\.env|nope\/123/);
    });

    it('should still answer, within REDIS_TIMEOUT_MS, without the queue depth while Redis is frozen', async () => {
      redis.freeze();
      try {
        // A read of the queue serves the scrapes of the next second (QUEUE_READ_CACHE_MS): past it, none is left.
        await sleep(QUEUE_READ_CACHE_MS + 100);
        const started = performance.now();
        const text = await scrape(server);

        expect(performance.now() - started).toBeLessThan(1_500);
        expect(text).not.toContain('dm_jobqueue_queue_jobs{');
        expect(text).not.toMatch(/^dm_jobqueue_oldest_waiting_job_age_seconds\{/m);
        expect(text).not.toMatch(/^dm_jobqueue_redis_memory_(used|max)_bytes\{/m);
        expect(sample(text, 'dm_jobqueue_ready{check="redis"}')).toBe(0);
        expect(sample(text, 'dm_jobqueue_ready{check="all"}')).toBe(0);
        expect(sample(text, 'dm_jobqueue_jobs_registered_total')).toBeGreaterThanOrEqual(1);
      } finally {
        redis.resume();
      }
      await server.untilReady();
      expect(await scrape(server)).toContain('dm_jobqueue_queue_jobs{state="completed"}');
    });
  });

  describe('logs', () => {
    it('should write one JSON access line per request: reqId, method, route, url, status and response time', async () => {
      const access = logLines(server).find((line) => line.reqId === 'obs-req-1' && line.msg === 'request completed');

      expect(access).toEqual({
        level: 'info',
        time: expect.any(String),
        pid: server.child.pid,
        hostname: expect.any(String),
        reqId: 'obs-req-1',
        method: 'POST',
        route: REGISTER,
        url: REGISTER,
        statusCode: 201,
        responseTime: expect.any(Number),
        msg: 'request completed',
      });
    });

    it('should write application logs as JSON too, and keep the job line plain', () => {
      const lines = logLines(server);

      expect(lines.find((line) => String(line.msg).startsWith('Listening on'))).toMatchObject({
        level: 'info',
        context: 'Bootstrap',
      });
      expect(server.printed('observability job')).toHaveLength(1);
      expect(server.printed('observability job')[0]).toMatch(
        /^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] observability job$/,
      );
    });

    it('should log probes and scrapes at debug, below the default info level, even when they fail', () => {
      const probes = logLines(server).filter((line) =>
        ['/health/live', '/health/ready', '/metrics'].includes(String(line.route)),
      );

      expect(probes.length).toBeGreaterThan(0);
      expect(probes.filter((line) => line.level !== 'debug')).toEqual([]);
    });

    it('should never write a bearer token, a cookie or a query string, whatever the request', async () => {
      const bad = `${secret.slice(0, -4)}AAAA`;
      await (await server.register({ delay_seconds: 3600 }, bearer(bad))).text();
      await (
        await server.fetch(`/api/dm-jobqueue/jobs/x?token=${secret}`, {
          headers: { ...auth, cookie: 'session=c00kie-value' },
        })
      ).text();
      await (await server.fetch('/health/ready', { headers: auth })).text();
      await server.waitForOutput(/"url":"\/api\/dm-jobqueue\/jobs\/x"/);

      const output = server.stdout + server.stderr;
      expect(output).not.toContain(secret);
      expect(output).not.toContain(bad);
      expect(output).not.toContain(secret.split('.')[2]);
      expect(output).not.toContain('c00kie-value');
      expect(output).not.toContain('Bearer ');
    });
  });

  it('should log nothing below LOG_LEVEL=warn but the job line, and answer 404 at /metrics when METRICS_ENABLED=false', async () => {
    const quiet = await ServerProcess.start(
      testEnv(redis.url, { LOG_LEVEL: 'warn', METRICS_ENABLED: 'false', QUEUE_PREFIX: '{dm-jobqueue-quiet}' }),
      false,
    );
    others.push(quiet);
    await quiet.untilReady();

    const registered = await quiet.register({ message: 'quiet job', delay_seconds: 0 });
    const metrics = await quiet.fetch('/metrics');
    await quiet.waitForOutput(/\] quiet job\n/);
    const exit = await quiet.stop('SIGTERM');

    expect(registered.status).toBe(201);
    expect(metrics.status).toBe(404);
    expect(await metrics.json()).toEqual({ statusCode: 404, message: 'Cannot GET /metrics', error: 'Not Found' });
    expect(exit).toEqual({ code: 0, signal: null });
    expect(quiet.stdout).not.toContain('Listening on');
    expect(quiet.stdout).not.toContain('request completed');
    expect(logLines(quiet).filter((line) => line.level === 'info' || line.level === 'debug')).toEqual([]);
    expect(quiet.printed('quiet job')).toHaveLength(1);
  });
});
