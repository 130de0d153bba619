// OpenTelemetry tracing (SPEC 6.2), configured by the standard OTEL_* variables: a server span per HTTP request and a
// span per job attempt, in the trace of the request that registered the job. Off unless an OTLP endpoint is set; then
// nothing of the SDK is even loaded, and every helper here returns at its first line.
import { Logger } from '@nestjs/common';
import {
  Context,
  context,
  diag,
  DiagLogger,
  DiagLogLevel,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TextMapPropagator,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import type { Job } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { parse } from 'dotenv';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { LogThrottle } from '../../common/log-throttle';
import { occurrenceOf } from '../../jobs/schedule';
import { pathOf } from '../../common/url-path';

/** `service.name` when neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES names one. */
export const DEFAULT_SERVICE_NAME = 'dm-jobqueue';

/** The OTLP protocols the SDK speaks; http/protobuf is its default. */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;

const ENDPOINT_VARIABLES = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] as const;
const PROTOCOL_VARIABLES = ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] as const;

/** An OTEL_* value the service cannot trace with; main.ts prints its message (one line) and exits non-zero. */
export class TracingConfigError extends Error {
  override readonly name = 'TracingConfigError';
}

const set = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';

/** OTEL_TRACES_EXPORTER's values, `otlp` when unset. */
const tracesExporters = (env: NodeJS.ProcessEnv): string[] =>
  set(env.OTEL_TRACES_EXPORTER) ? env.OTEL_TRACES_EXPORTER.split(',').map((exporter) => exporter.trim()) : ['otlp'];

/**
 * Whether tracing is asked for: an OTLP endpoint is set (for all signals or for traces), the SDK is not disabled
 * (OTEL_SDK_DISABLED=true) and the traces exporter is not `none`.
 */
export function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  if (!ENDPOINT_VARIABLES.some((name) => set(env[name]))) return false;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return !tracesExporters(env).includes('none');
}

/**
 * What is wrong with the OTEL_* values the service checks itself, or undefined. The SDK would fall back to its
 * default on an unknown protocol and drop spans to a malformed endpoint, saying so only at OTEL_LOG_LEVEL=debug: a
 * misconfiguration would look like a quiet service.
 */
export function tracingConfigProblem(env: NodeJS.ProcessEnv): string | undefined {
  // `console` would write multi-line span dumps between the job lines and the JSON logs on standard output.
  const exporters = tracesExporters(env);
  if (exporters.some((exporter) => exporter !== 'otlp' && exporter !== 'none')) {
    return `OTEL_TRACES_EXPORTER must be otlp or none (got "${env.OTEL_TRACES_EXPORTER}")`;
  }
  for (const name of PROTOCOL_VARIABLES) {
    const value = env[name];
    if (set(value) && !(OTLP_PROTOCOLS as readonly string[]).includes(value.trim())) {
      return `${name} must be one of ${OTLP_PROTOCOLS.join(', ')} (got "${value}")`;
    }
  }
  for (const name of ENDPOINT_VARIABLES) {
    const value = env[name];
    if (!set(value)) continue;
    let url: URL | undefined;
    try {
      url = new URL(value.trim());
    } catch {
      url = undefined;
    }
    if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
      return `${name} must be an http:// or https:// URL (got "${value}")`;
    }
  }
  return undefined;
}

/**
 * The OTEL_* variables of a dotenv file (`.env` in the working directory, as the configuration reads it), into `env`
 * where it does not set them already: tracing starts before the configuration module reads that file.
 */
export function loadOtelVariables(file: string, env: NodeJS.ProcessEnv): void {
  if (!existsSync(file)) return;
  for (const [name, value] of Object.entries(parse(readFileSync(file)))) {
    if (name.startsWith('OTEL_') && env[name] === undefined) env[name] = value;
  }
}

/** The SDK's own warnings and errors (an export that failed, a bad setting) as throttled lines of our log. */
class NestDiagLogger implements DiagLogger {
  private readonly logger = new Logger('OpenTelemetry');
  private readonly errors = new LogThrottle(this.logger);
  error = (message: string, ...args: unknown[]): void => this.errors.error(describe(message, args));
  warn = (message: string, ...args: unknown[]): void => this.errors.error(describe(message, args));
  info = (): void => undefined;
  debug = (): void => undefined;
  verbose = (): void => undefined;
}

function describe(message: string, args: unknown[]): string {
  const details = args.map((arg) => (arg instanceof Error ? arg.message : typeof arg === 'string' ? arg : ''));
  return [message, ...details.filter((detail) => detail !== '')].join(' ');
}

/** The query parameters of the API (the job and schedule lists), whose values a span keeps; any other is redacted. */
const SPAN_QUERY_PARAMETERS = new Set(['state', 'limit', 'cursor', 'owner']);

/**
 * `url.query` as a span records it: the API's own list parameters as sent, every other value `REDACTED` (the access
 * log drops the query string altogether: it could carry anything).
 */
export function spanQuery(url: string | undefined): string | undefined {
  const query = url?.indexOf('?') ?? -1;
  if (url === undefined || query < 0 || query === url.length - 1) return undefined;
  const params = new URLSearchParams(url.slice(query + 1));
  for (const [name] of params) if (!SPAN_QUERY_PARAMETERS.has(name)) params.set(name, 'REDACTED');
  return params.toString();
}

/** Probes and scrapes come every few seconds and tell nothing a trace would: they get no span. */
export function isUntracedRequest(request: Pick<IncomingMessage, 'url'>): boolean {
  const path = pathOf(request.url ?? '');
  return path === '/metrics' || path === '/health' || path.startsWith('/health/');
}

export interface Tracing {
  /** Exports the spans not yet sent, then stops. */
  shutdown(): Promise<void>;
}

let enabled = false;

/**
 * What a job carries of its registration's trace: the W3C trace context alone, whatever OTEL_PROPAGATORS says (its
 * default adds the caller's `baggage`, which could put kilobytes into every job in Redis; b3 would write no
 * `traceparent`). Set while tracing runs.
 */
let jobPropagator: TextMapPropagator | undefined;

/** The longest `tracestate` a job keeps (W3C: at least 512 characters must be passed on); a longer one is dropped. */
export const MAX_TRACESTATE_LENGTH = 512;

/** The context each running attempt's span was current in, for the lines logged of it after it ends. */
const attemptContexts = new WeakMap<object, Context>();

/** Whether startTracing has started the SDK in this process. */
export const tracingEnabled = (): boolean => enabled;

/**
 * Starts the SDK when tracing is wanted, before Fastify loads node:http (main.ts imports this first): traces only, to
 * the OTLP endpoint, over OTEL_EXPORTER_OTLP_PROTOCOL; every other OTEL_* variable as the SDK reads it (sampler,
 * resource attributes, headers, batch settings, propagators). Metrics stay on /metrics and logs on standard output,
 * so none go over OTLP whatever OTEL_METRICS_EXPORTER or OTEL_LOGS_EXPORTER say. Undefined when tracing is off.
 */
export function startTracing(env: NodeJS.ProcessEnv = process.env): Tracing | undefined {
  if (!tracingWanted(env)) return undefined;
  const problem = tracingConfigProblem(env);
  if (problem) throw new TracingConfigError(problem);
  // Required here rather than imported: a service without tracing never loads the SDK and its exporters.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { HttpInstrumentation } =
    require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const { W3CTraceContextPropagator } = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  /* eslint-enable @typescript-eslint/no-require-imports */
  if (!set(env.OTEL_LOG_LEVEL)) diag.setLogger(new NestDiagLogger(), DiagLogLevel.WARN);
  const named = set(env.OTEL_SERVICE_NAME) || /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  const sdk = new NodeSDK({
    ...(!named && { serviceName: DEFAULT_SERVICE_NAME }),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        // The service calls no HTTP API; the exporter's own requests are never traced anyway.
        disableOutgoingRequestInstrumentation: true,
        ignoreIncomingRequestHook: isUntracedRequest,
        startIncomingSpanHook: (request) => {
          const query = spanQuery(request.url);
          return query === undefined ? {} : { 'url.query': query };
        },
      }),
    ],
  });
  sdk.start();
  jobPropagator = new W3CTraceContextPropagator();
  enabled = true;
  return {
    shutdown: async () => {
      enabled = false;
      jobPropagator = undefined;
      await sdk.shutdown();
    },
  };
}

/**
 * Names each server span after its route (`POST /api/dm-jobqueue/register`, with `http.route`) rather than its method
 * alone: the HTTP instrumentation reads the route from the request's RPC metadata when the response ends, as the
 * framework instrumentations set it.
 */
export function nameServerSpans(fastify: FastifyInstance): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { getRPCMetadata, RPCType } = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  fastify.addHook('onRequest', (request, _reply, done) => {
    const metadata = getRPCMetadata(context.active());
    const route = request.routeOptions.url;
    if (metadata?.type === RPCType.HTTP && route !== undefined) metadata.route = route;
    done();
  });
}

/**
 * The trace context of the request being served, as a job carries it to its attempts: BullMQ's own place for it
 * (`opts.telemetry.metadata`, the W3C headers as JSON, as bullmq-otel writes them), which the job's add stores with
 * it. Undefined when tracing is off or nothing is being traced.
 */
export function currentTraceMetadata(): string | undefined {
  if (!enabled || !jobPropagator) return undefined;
  const carrier: Record<string, string> = {};
  jobPropagator.inject(context.active(), carrier, defaultTextMapSetter);
  if (carrier.traceparent === undefined) return undefined;
  if ((carrier.tracestate?.length ?? 0) > MAX_TRACESTATE_LENGTH) delete carrier.tracestate;
  return JSON.stringify(carrier);
}

/** The headers `metadata` holds, or none for a value that is not a JSON object of strings. */
export function traceCarrier(metadata: string | undefined): Record<string, string> {
  if (metadata === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(metadata);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
    return Object.fromEntries(
      Object.entries(parsed as Record<string, unknown>).filter(
        (entry): entry is [string, string] => typeof entry[1] === 'string',
      ),
    );
  } catch {
    return {};
  }
}

/** The job of an attempt, as its span describes it. */
export type TracedJob = Pick<Job, 'id' | 'name' | 'attemptsMade' | 'attemptsStarted' | 'opts' | 'repeatJobKey'>;

/**
 * Runs one attempt of a job in its own span (`process <queue>`, a consumer span), the child of the span that was
 * current when the job was registered; a job registered without a trace (a schedule's occurrence, tracing off at the
 * time) starts a trace of its own. A failed attempt's span carries the error.
 */
export async function traceAttempt<T>(job: TracedJob, queue: string, run: () => Promise<T>): Promise<T> {
  if (!enabled || !jobPropagator) return run();
  const carrier = traceCarrier(job.opts.telemetry?.metadata);
  const parent = jobPropagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
  const tracer = trace.getTracer(DEFAULT_SERVICE_NAME);
  const scheduleId = job.repeatJobKey && job.id !== undefined ? occurrenceOf(job.id)?.scheduleId : undefined;
  const attributes = {
    'messaging.system': 'bullmq',
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    'messaging.destination.name': queue,
    'messaging.message.id': job.id ?? '',
    // Which of its max_retry + 1 attempts; a job run again after a stall repeats it, and has started once more.
    'dm_jobqueue.job.attempt': job.attemptsMade + 1,
    'dm_jobqueue.job.attempts_started': job.attemptsStarted,
    ...(scheduleId !== undefined && { 'dm_jobqueue.schedule.id': scheduleId }),
  };
  return tracer.startActiveSpan(`process ${queue}`, { kind: SpanKind.CONSUMER, attributes }, parent, async (span) => {
    attemptContexts.set(job, context.active());
    try {
      return await run();
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      span.recordException(failure);
      span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Runs `log` in the context of the job's latest attempt (its span has ended: BullMQ emits 'failed' and 'completed'
 * after the processor returns), so the lines it writes name that attempt's trace.
 */
export function inAttemptContext(job: object | undefined, log: () => void): void {
  const attempt = enabled && job !== undefined ? attemptContexts.get(job) : undefined;
  if (attempt === undefined) log();
  else context.with(attempt, log);
}

/**
 * pino's mixin while tracing is on: the trace and span a log line was written in, when there is one and it is
 * sampled (a trace that is not exported is not worth looking for).
 */
export function traceFields(): { trace_id?: string; span_id?: string } {
  const spanContext = trace.getSpan(context.active())?.spanContext();
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return {};
  if ((spanContext.traceFlags & TraceFlags.SAMPLED) === 0) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}
