// Imported first by main.ts, before any module that loads node:http: the HTTP instrumentation must be in place before
// Fastify creates its server. A bad OTEL_* value stops the process here with one line naming it.
import { resolve } from 'node:path';
import { loadOtelVariables, startTracing, Tracing, TracingConfigError } from './tracing';

function start(): Tracing | undefined {
  try {
    loadOtelVariables(resolve(process.cwd(), '.env'), process.env);
    return startTracing(process.env);
  } catch (error) {
    if (!(error instanceof TracingConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
}

/** The process's tracing, undefined when off (OTEL_EXPORTER_OTLP_ENDPOINT unset). */
export const tracing = start();
