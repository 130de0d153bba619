// The access log: one JSON line per response, written from Fastify's onResponse hook.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Level, Logger } from 'pino';
import { pathOf } from '../../common/url-path';
import { UNMATCHED_ROUTE } from '../metrics/http.metrics';

/** Longest path written to the log; a scanner's 16 KB URL must not make a 16 KB line. */
const MAX_LOGGED_PATH = 256;

/** The path without its query string (which could carry anything), cut to MAX_LOGGED_PATH characters. */
export function loggedPath(url: string): string {
  const path = pathOf(url);
  return path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}…` : path;
}

const isProbe = (route: string): boolean => route === '/metrics' || route.startsWith('/health');

/**
 * Probes and scrapes at debug whatever their answer, so they never bury the traffic (a failing readiness
 * check is reported once by the Redis connection's own log, not at every poll); a 503 (Redis away,
 * shutting down) at warn, so an outage is not a flood of errors; other 5xx at error; the rest at info.
 */
export function accessLogLevel(route: string, statusCode: number): Level {
  if (isProbe(route)) return 'debug';
  if (statusCode === 503) return 'warn';
  return statusCode >= 500 ? 'error' : 'info';
}

export interface AccessLine {
  reqId: string;
  method: string;
  /** The route pattern (`/api/dm-jobqueue/jobs/:job_id`), or `unmatched`. */
  route: string;
  url: string;
  statusCode: number;
  /** Milliseconds from receiving the request to sending the last byte. */
  responseTime: number;
}

/** Only these fields: no header is ever written, so neither Authorization nor a cookie can be. */
export function accessLine(request: FastifyRequest, reply: FastifyReply, route: string): AccessLine {
  return {
    reqId: request.id,
    method: request.method,
    route,
    url: loggedPath(request.url),
    statusCode: reply.statusCode,
    responseTime: Math.round(reply.elapsedTime * 10) / 10,
  };
}

/**
 * A Fastify hook rather than nestjs-pino's pino-http middleware: that middleware runs every request
 * through Nest's middleware layer and an AsyncLocalStorage context, which cost about a quarter of the
 * register throughput in the benchmark; this costs one log call, and nothing when the level is off.
 * Returns the function that writes one line, for the answers that no hook sees.
 */
export function logResponses(
  fastify: FastifyInstance,
  rootLogger: Logger,
): (request: FastifyRequest, reply: FastifyReply) => void {
  // An access line is built from the six fields above and nothing else, so the root logger's redaction
  // (wildcard paths, checked on every call: about half of what a line cost, bench/README.md) has nothing to
  // find in it and is left out here; every other log call keeps it.
  const logger = rootLogger.child({}, { redact: [] });
  const logResponse = (request: FastifyRequest, reply: FastifyReply): void => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    const level = accessLogLevel(route, reply.statusCode);
    if (logger.isLevelEnabled(level)) logger[level](accessLine(request, reply, route), 'request completed');
  };
  fastify.addHook('onResponse', (request, reply, done) => {
    logResponse(request, reply);
    done();
  });
  // The client went away before the answer: no onResponse, but the request still happened.
  fastify.addHook('onRequestAbort', (request, done) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    if (logger.isLevelEnabled('info')) {
      logger.info(
        { reqId: request.id, method: request.method, route, url: loggedPath(request.url) },
        'request aborted',
      );
    }
    done();
  });
  return logResponse;
}
