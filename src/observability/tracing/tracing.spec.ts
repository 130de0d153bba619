// With tracing on (spans exported to a receiver, an attempt's trace and error): test/system/tracing.system-spec.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  currentTraceMetadata,
  inAttemptContext,
  loadOtelVariables,
  spanQuery,
  isUntracedRequest,
  startTracing,
  traceAttempt,
  traceCarrier,
  traceFields,
  tracingConfigProblem,
  TracingConfigError,
  tracingEnabled,
  tracingWanted,
} from './tracing';

const ENDPOINT = 'http://127.0.0.1:4318';

describe('tracingWanted', () => {
  it.each([
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${ENDPOINT}/v1/traces` }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_SDK_DISABLED: 'TRUE' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_SDK_DISABLED: 'false' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_EXPORTER: 'none' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_EXPORTER: 'otlp' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_EXPORTER: ' ' }, true],
  ])('%j: %s', (env, wanted) => {
    expect(tracingWanted(env)).toBe(wanted);
  });
});

describe('tracingConfigProblem', () => {
  it.each(['http/protobuf', 'http/json', 'grpc', ' http/json '])('accepts the protocol %j', (protocol) => {
    expect(tracingConfigProblem({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: protocol })).toBe(
      undefined,
    );
  });

  it('names the variable and the value it cannot use', () => {
    expect(tracingConfigProblem({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/xml' })).toBe(
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL must be one of http/protobuf, http/json, grpc (got "http/xml")',
    );
    expect(tracingConfigProblem({ OTEL_EXPORTER_OTLP_ENDPOINT: '127.0.0.1:4318' })).toBe(
      'OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL (got "127.0.0.1:4318")',
    );
    expect(tracingConfigProblem({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://collector/v1/traces' })).toMatch(
      /^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be/,
    );
    // Span dumps on standard output, between the job lines: refused.
    expect(tracingConfigProblem({ OTEL_TRACES_EXPORTER: 'console' })).toBe(
      'OTEL_TRACES_EXPORTER must be otlp or none (got "console")',
    );
  });

  it('stops startTracing before anything starts', () => {
    expect(() => startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(TracingConfigError);
    expect(tracingEnabled()).toBe(false);
  });
});

describe('loadOtelVariables', () => {
  it('takes the OTEL_* variables of a dotenv file the environment does not set, and nothing else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'otel-env-'));
    try {
      const file = join(dir, '.env');
      writeFileSync(
        file,
        'OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318\nOTEL_SERVICE_NAME=from-file\nREDIS_URL=redis://file\n',
      );
      const env: NodeJS.ProcessEnv = { OTEL_SERVICE_NAME: 'from-env' };
      loadOtelVariables(file, env);
      expect(env).toEqual({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'from-env' });
      loadOtelVariables(join(dir, 'missing.env'), env);
      expect(Object.keys(env)).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('isUntracedRequest', () => {
  it.each([
    ['/metrics', true],
    ['/health/ready', true],
    ['/health/live?x=1', true],
    ['/health', true],
    ['/api/dm-jobqueue/register', false],
    ['/healthy', false],
    ['/metrics/x', false],
  ])('%s: %s', (url, untraced) => {
    expect(isUntracedRequest({ url })).toBe(untraced);
  });
});

describe('spanQuery', () => {
  it.each([
    [undefined, undefined],
    ['/api/dm-jobqueue/jobs', undefined],
    ['/api/dm-jobqueue/jobs?', undefined],
    ['/api/dm-jobqueue/jobs?state=delayed&limit=5', 'state=delayed&limit=5'],
    ['/api/dm-jobqueue/jobs?access_token=secret&limit=5&x=1', 'access_token=REDACTED&limit=5&x=REDACTED'],
  ])('%s: %s', (url, query) => {
    expect(spanQuery(url)).toBe(query);
  });
});

describe('traceCarrier', () => {
  it.each([undefined, '', 'not json', '[]', 'null', '"x"', '12'])('reads %j as no headers', (metadata) => {
    expect(traceCarrier(metadata)).toEqual({});
  });

  it('keeps the string headers of a JSON object', () => {
    expect(traceCarrier('{"traceparent":"00-a-b-01","n":1,"tracestate":"k=v"}')).toEqual({
      traceparent: '00-a-b-01',
      tracestate: 'k=v',
    });
  });
});

describe('with tracing off', () => {
  it('runs an attempt as it is and carries no context', async () => {
    expect(tracingEnabled()).toBe(false);
    await expect(
      traceAttempt(
        { id: '1', name: 'message', attemptsMade: 0, attemptsStarted: 1, opts: {} },
        'jobs',
        async () => 'ran',
      ),
    ).resolves.toBe('ran');
    expect(currentTraceMetadata()).toBeUndefined();
    expect(traceFields()).toEqual({});
    const logged: string[] = [];
    inAttemptContext({}, () => logged.push('line'));
    expect(logged).toEqual(['line']);
  });
});
