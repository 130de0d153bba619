// OpenTelemetry tracing (SPEC 6.2), configured by the standard OTEL_* variables: a server span per HTTP request and a
// span per job attempt, in the trace of the request that registered the job. Off unless an OTLP endpoint is set; then
// nothing of the SDK is even loaded, and every helper here returns at its first line.
import { Logger } from '@nestjs/common';
import {
  context,
  diag,
  DiagLogger,
  DiagLogLevel,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { Job } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { parse } from 'dotenv';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { LogThrottle } from '../../common/log-throttle';

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

/**
 * Whether tracing is asked for: an OTLP endpoint is set (for all signals or for traces), the SDK is not disabled
 * (OTEL_SDK_DISABLED=true) and the traces exporter is not `none`.
 */
export function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  if (!ENDPOINT_VARIABLES.some((name) => set(env[name]))) return false;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return !(env.OTEL_TRACES_EXPORTER ?? '').split(',').some((exporter) => exporter.trim() === 'none');
}

/**
 * What is wrong with the OTEL_* values the service checks itself, or undefined. The SDK would fall back to its
 * default on an unknown protocol and drop spans to a malformed endpoint, saying so only at OTEL_LOG_LEVEL=debug: a
 * misconfiguration would look like a quiet service.
 */
export function tracingConfigProblem(env: NodeJS.ProcessEnv): string | undefined {
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

/** Probes and scrapes come every few seconds and tell nothing a trace would: they get no span. */
export function isUntracedRequest(request: Pick<IncomingMessage, 'url'>): boolean {
  const url = request.url ?? '';
  const query = url.indexOf('?');
  const path = query >= 0 ? url.slice(0, query) : url;
  return path === '/metrics' || path === '/health' || path.startsWith('/health/');
}

export interface Tracing {
  /** Exports the spans not yet sent, then stops. */
  shutdown(): Promise<void>;
}

let enabled = false;

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
      }),
    ],
  });
  sdk.start();
  enabled = true;
  return {
    shutdown: async () => {
      enabled = false;
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
  if (!enabled) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent === undefined ? undefined : JSON.stringify(carrier);
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

/** What a job attempt's span says of it. */
export interface TracedAttempt {
  job: Pick<Job, 'id' | 'name' | 'attemptsMade' | 'opts'>;
  queue: string;
  /** The schedule whose occurrence it is, if any. */
  scheduleId?: string;
}

/**
 * Runs one attempt of a job in its own span (`process <queue>`, a consumer span), the child of the span that was
 * current when the job was registered; a job registered without a trace (a schedule's occurrence, tracing off at the
 * time) starts a trace of its own. A failed attempt's span carries the error.
 */
export async function traceAttempt<T>(attempt: TracedAttempt, run: () => Promise<T>): Promise<T> {
  if (!enabled) return run();
  const { job, queue } = attempt;
  const parent = propagation.extract(ROOT_CONTEXT, traceCarrier(job.opts.telemetry?.metadata));
  const tracer = trace.getTracer(DEFAULT_SERVICE_NAME);
  const attributes = {
    'messaging.system': 'bullmq',
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    'messaging.destination.name': queue,
    'messaging.message.id': job.id ?? '',
    'dm_jobqueue.job.attempt': job.attemptsMade + 1,
    ...(attempt.scheduleId !== undefined && { 'dm_jobqueue.schedule.id': attempt.scheduleId }),
  };
  return tracer.startActiveSpan(`process ${queue}`, { kind: SpanKind.CONSUMER, attributes }, parent, async (span) => {
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

/** pino's mixin while tracing is on: the trace and span a log line was written in, when there is one. */
export function traceFields(): { trace_id?: string; span_id?: string } {
  const spanContext = trace.getSpan(context.active())?.spanContext();
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}
