// OpenTelemetry (SPEC 6.2) on the built server (node dist/main.js): a register and its job's attempt arrive at an OTLP
// receiver on loopback in one trace, over http/protobuf and http/json; with no endpoint nothing of the SDK loads.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { testEnv } from '../support/app';
import { JOB_LINE } from '../support/job-lines';
import { OtlpReceiver, ReceivedSpan, SPAN_KIND } from '../support/otlp-receiver';
import { RedisServer } from '../support/redis-server';
import { ServerProcess } from '../support/server-process';
import { bearer } from '../support/tokens';
import { eventually } from '../support/wait';

jest.setTimeout(60_000);

const ROOT = join(__dirname, '..', '..');

/** The JSON log lines the server wrote (job lines are not JSON). */
function logLines(server: ServerProcess): Record<string, unknown>[] {
  return server.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function spanOf(
  receiver: OtlpReceiver,
  match: (span: ReceivedSpan) => boolean,
  what: string,
): Promise<ReceivedSpan> {
  return eventually(
    async () => receiver.spans.find(match),
    10_000,
    () =>
      `${what}; received: ${JSON.stringify(receiver.spans.map((span) => span.name))} refused: ${receiver.refused.join(', ')}`,
  );
}

describe.each(['http/protobuf', 'http/json'])('traces over %s', (protocol) => {
  let redis: RedisServer;
  let receiver: OtlpReceiver;
  let server: ServerProcess;

  beforeAll(async () => {
    [redis, receiver] = await Promise.all([RedisServer.start(), OtlpReceiver.start()]);
    server = await ServerProcess.start(
      testEnv(redis.url, {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        // Sent within 100 ms rather than the default 5 s.
        OTEL_BSP_SCHEDULE_DELAY: '100',
      }),
    );
    await server.untilReady();
  });

  afterAll(async () => {
    await server?.kill();
    await Promise.all([redis?.close(), receiver?.close()]);
  });

  it('puts a register and its job attempt in one trace, and the log lines name it', async () => {
    const message = `traced over ${protocol}`;
    const response = await server.register({ message, delay_seconds: 0 });
    expect(response.status).toBe(201);
    const { job_id: jobId } = (await response.json()) as { job_id: string };
    await server.waitForOutput(new RegExp(`\\] ${message}$`, 'm'));

    const request = await spanOf(
      receiver,
      (span) => span.kind === SPAN_KIND.SERVER && span.name === 'POST /api/dm-jobqueue/register',
      'the register request span',
    );
    expect(request.encoding).toBe(protocol === 'http/json' ? 'json' : 'protobuf');
    expect(request.parentSpanId).toBe('');
    expect(request.attributes).toMatchObject({ 'http.route': '/api/dm-jobqueue/register' });
    expect(request.attributes['http.response.status_code']).toBe(201);
    expect(request.resource['service.name']).toBe('dm-jobqueue');

    const attempt = await spanOf(
      receiver,
      (span) => span.name === 'process jobs' && span.attributes['messaging.message.id'] === jobId,
      'the job attempt span',
    );
    expect(attempt).toMatchObject({ kind: SPAN_KIND.CONSUMER, traceId: request.traceId, parentSpanId: request.spanId });
    expect(attempt.attributes).toMatchObject({
      'messaging.system': 'bullmq',
      'messaging.destination.name': 'jobs',
      'dm_jobqueue.job.attempt': 1,
    });

    // The access line of the register names its trace and span.
    const accessLine = await eventually(
      async () =>
        logLines(server).find((line) => line.msg === 'request completed' && line.route === '/api/dm-jobqueue/register'),
      5_000,
      'the access line of the register',
    );
    expect(accessLine).toMatchObject({ trace_id: request.traceId, span_id: request.spanId });
    // The job line itself is SPEC 5.3's, unchanged.
    expect(server.jobLines.filter((line) => line.endsWith(message))).toHaveLength(1);
    expect(server.jobLines.every((line) => JOB_LINE.test(line))).toBe(true);
  });

  it("continues a caller's trace (W3C traceparent) into the request and its job", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const message = `caller traced over ${protocol}`;
    // The caller's baggage (here 4 KB) stays out of the job: it carries the trace context alone.
    const baggage = `note=${'x'.repeat(4_000)}`;
    const response = await server.register(
      { message, delay_seconds: 3_600 },
      { ...bearer(), traceparent: `00-${traceId}-${callerSpan}-01`, tracestate: 'vendor=abc', baggage },
    );
    expect(response.status).toBe(201);
    const { job_id: jobId } = (await response.json()) as { job_id: string };
    const opts = JSON.parse(String(await redis.command('HGET', `{dm-jobqueue}:jobs:${jobId}`, 'opts'))) as {
      tm?: string;
    };
    expect(JSON.parse(opts.tm!)).toEqual({
      traceparent: expect.stringMatching(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`)),
      tracestate: 'vendor=abc',
    });
    // Due now: its attempt runs.
    const moved = await server.fetch(`/api/dm-jobqueue/jobs/${jobId}`, {
      method: 'PATCH',
      headers: { ...bearer(), 'content-type': 'application/json' },
      body: JSON.stringify({ delay_seconds: 0 }),
    });
    expect(moved.status).toBe(200);
    const request = await spanOf(
      receiver,
      (span) => span.kind === SPAN_KIND.SERVER && span.traceId === traceId,
      "the register request span in the caller's trace",
    );
    expect(request.parentSpanId).toBe(callerSpan);
    const attempt = await spanOf(
      receiver,
      (span) => span.name === 'process jobs' && span.attributes['messaging.message.id'] === jobId,
      'the job attempt span',
    );
    expect(attempt).toMatchObject({ traceId, parentSpanId: request.spanId });
  });

  it("keeps the API's own query parameters in a span and redacts any other", async () => {
    await server.fetch('/api/dm-jobqueue/jobs?limit=5&access_token=secret-value', { headers: bearer() });
    const list = await spanOf(
      receiver,
      (span) => span.attributes['http.route'] === '/api/dm-jobqueue/jobs' && span.attributes['url.query'] !== undefined,
      'the list request span',
    );
    expect(list.attributes['url.query']).toBe('limit=5&access_token=REDACTED');
    expect(JSON.stringify(receiver.spans)).not.toContain('secret-value');
  });

  it('gives probes and scrapes no span', async () => {
    await server.fetch('/health/live');
    await server.fetch('/metrics');
    // A sentinel request after them: once its span is in, theirs would be too.
    await server.fetch('/api/dm-jobqueue/jobs/00000000-0000-4000-8000-000000000000', { headers: bearer() });
    // This request's own span (an earlier test's PATCH has the same route): spans name their path as url.path, which
    // is what the check below reads of a probe's.
    const sentinel = await spanOf(
      receiver,
      (span) => span.attributes['url.path'] === '/api/dm-jobqueue/jobs/00000000-0000-4000-8000-000000000000',
      'the span of the request that followed the probes',
    );
    expect(sentinel.attributes['http.route']).toBe('/api/dm-jobqueue/jobs/:job_id');
    const paths = receiver.spans.map((span) => String(span.attributes['url.path']));
    expect(paths.filter((path) => path.startsWith('/health') || path === '/metrics')).toEqual([]);
    expect(receiver.refused).toEqual([]);
  });
});

describe('traces across an API process and a worker process', () => {
  let redis: RedisServer;
  let receiver: OtlpReceiver;
  const servers: ServerProcess[] = [];

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.kill()));
    await Promise.all([redis?.close(), receiver?.close()]);
  });

  it("puts the worker's attempts in the API's trace, and an attempt that failed (expired) as an error", async () => {
    [redis, receiver] = await Promise.all([RedisServer.start(), OtlpReceiver.start()]);
    const env = (role: string) =>
      testEnv(redis.url, {
        APP_ROLE: role,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_SERVICE_NAME: `dm-jobqueue-${role}`,
      });
    const api = await ServerProcess.start(env('api'));
    servers.push(api);
    await api.untilReady();
    const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();
    const register = async (body: object): Promise<string> => {
      const response = await api.register(body);
      expect(response.status).toBe(201);
      return ((await response.json()) as { job_id: string }).job_id;
    };
    // No worker runs yet: the first is past its expires_at when one starts, the second still runs then.
    const expiringAt = inMs(600);
    const expiring = await register({ message: 'expires untraced', run_at: inMs(100), expires_at: expiringAt });
    const runs = await register({ message: 'runs in the worker', run_at: inMs(100) });
    await eventually(async () => (Date.now() > Date.parse(expiringAt) + 100 ? true : undefined), 5_000, 'expiry');

    const worker = await ServerProcess.start(env('worker'));
    servers.push(worker);
    await worker.waitForOutput(/\] runs in the worker$/m);
    const requestOf = async (jobId: string) => {
      const attempt = await spanOf(
        receiver,
        (span) => span.name === 'process jobs' && span.attributes['messaging.message.id'] === jobId,
        `the attempt of ${jobId}`,
      );
      const request = receiver.spans.find((span) => span.spanId === attempt.parentSpanId);
      return { attempt, request };
    };
    for (const jobId of [runs, expiring]) {
      const { attempt, request } = await requestOf(jobId);
      expect(attempt.resource['service.name']).toBe('dm-jobqueue-worker');
      expect(request).toMatchObject({ traceId: attempt.traceId, name: 'POST /api/dm-jobqueue/register' });
      expect(request!.resource['service.name']).toBe('dm-jobqueue-api');
    }
    expect((await requestOf(runs)).attempt.status).not.toBe(2);
    const expired = (await requestOf(expiring)).attempt;
    expect(expired.status).toBe(2);
    expect(worker.printed('expires untraced')).toEqual([]);
    // The worker's line about it (written once the attempt has ended) names the attempt's trace and span.
    const line = await eventually(
      async () =>
        logLines(worker).find((each) => each.msg === `Job ${expiring} expired before it started; it did not run`),
      5_000,
      'the expiry line',
    );
    expect(line).toMatchObject({ trace_id: expired.traceId, span_id: expired.spanId });
  });
});

describe('tracing off', () => {
  /** Whether loading the entry's first module, with `env`, loads the OpenTelemetry SDK. */
  const sdkLoaded = (env: Record<string, string>): string =>
    execFileSync(
      process.execPath,
      [
        '-e',
        "require('./dist/observability/tracing/start');" +
          "console.log(Object.keys(require.cache).some((path) => path.includes('@opentelemetry/sdk-node')))",
      ],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' },
    ).trim();

  it('loads nothing of the SDK without an OTLP endpoint, and all of it with one', () => {
    expect(sdkLoaded({})).toBe('false');
    expect(sdkLoaded({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' })).toBe(
      'false',
    );
    // The sentinel: the same check sees the SDK when tracing is on.
    expect(sdkLoaded({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe('true');
  });

  it('refuses a protocol it cannot speak with one line naming the variable', async () => {
    const redis = await RedisServer.start();
    try {
      const server = await ServerProcess.start(
        testEnv(redis.url, {
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/xml',
        }),
        false,
      );
      const exit = await server.exited;
      expect(exit.code).toBe(1);
      expect(server.stderr.trim()).toBe(
        'OTEL_EXPORTER_OTLP_PROTOCOL must be one of http/protobuf, http/json, grpc (got "http/xml")',
      );
    } finally {
      await redis.close();
    }
  });
});
