// Builds the configured Nest application; used by main.ts and by the end-to-end tests alike.
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Logger as PinoNestLogger } from 'nestjs-pino';
import { maxHeaderSize } from 'node:http';
import type { Logger } from 'pino';
import { AppModule } from './app.module';
import { validateEnv } from './config/env.validation';
import { ReadinessState } from './health/readiness.state';
import { guardConnections } from './http/connection-guard';
import { corsOptions } from './http/cors';
import { clientErrorHandler, frameworkErrorHandler } from './http/framework-errors';
import { registerJsonParser } from './http/json-body-parser';
import { lazySchemaCompilers } from './http/schema-compilers';
import { addSecurityHeaders, helmetPolicy, pageSecurityHeaders } from './http/security-headers';
import { httpServerTimeouts } from './http/timeouts';
import { logResponses } from './observability/logging/access-log';
import { ROOT_LOGGER } from './observability/logging/logging.module';
import { echoRequestId, requestIdFor } from './observability/logging/request-id';
import { HttpMetrics, observeHttpRequests } from './observability/metrics/http.metrics';
import { isDocsUiRoute, setupOpenApi } from './openapi/openapi';
import { REGISTER_BATCH_PATH } from './jobs/api/jobs.controller';
import { AppConfig } from './config/app-config';
import { nameServerSpans, tracingEnabled } from './observability/tracing/tracing';

export interface CreateAppOptions {
  /** false: no log at all, application or access (the in-process tests). Otherwise pino at LOG_LEVEL. */
  logger?: false;
}

/**
 * Once shutdown has begun, every response closes its connection: a kept-alive socket that finishes its
 * request after Fastify's close() would otherwise hold the server open until its keep-alive timeout.
 */
function closeConnectionsWhileDraining(fastify: FastifyInstance, readiness: ReadinessState): void {
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (readiness.shuttingDown) void reply.header('connection', 'close');
    done(null, payload);
  });
}

/**
 * The Swagger UI (/docs, /docs/…) is a web page: helmet's page headers, with a relaxed Content-Security-Policy
 * since it loads its scripts and styles from /docs and must work over plain HTTP (no upgrade-insecure-requests,
 * images from https: for the validator badge). Every other route gets the API's set (security-headers.ts).
 */
const DOCS_PAGE_HEADERS = pageSecurityHeaders(
  helmetPolicy({ 'img-src': ["'self'", 'data:', 'https:'], 'upgrade-insecure-requests': null }),
);

export async function createApp(options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  // Validated here too (ConfigModule validates again) only to size the body limit before Fastify exists.
  const { BODY_LIMIT_BYTES, BATCH_BODY_LIMIT_BYTES, HTTP_REQUEST_TIMEOUT_MS } = validateEnv(process.env);
  // Set once the logger exists; the adapter's options are fixed before.
  let logAnswered: (request: FastifyRequest, reply: FastifyReply) => void = () => undefined;
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    ...httpServerTimeouts(HTTP_REQUEST_TIMEOUT_MS),
    // While closing, answer new requests on kept-alive sockets with 503 and close idle sockets.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Fastify's default (100) answers a longer path parameter with its own 414 before Nest routes it; a
    // long job id must get the same 404 "Job not found" as any other malformed one. Node refuses (431) a
    // request line longer than its header limit, so no parameter that reaches the router is longer.
    routerOptions: { maxParamLength: maxHeaderSize },
    // A malformed URL (400) or, past --max-http-header-size, a parameter still too long (414): the API's shape.
    frameworkErrors: frameworkErrorHandler((request, reply) => logAnswered(request, reply)),
    // A request timeout (408), oversized headers (431), bad HTTP (400): likewise.
    clientErrorHandler,
    // request.id: the caller's X-Request-Id when sane, else a UUID; echoed back, logged as reqId.
    genReqId: requestIdFor,
    // ajv and fast-json-stringify load with the first route that has a schema; the API's routes have none.
    schemaController: lazySchemaCompilers(),
  });
  const silent = options.logger === false;
  const app = await NestFactory.create<NestFastifyApplication>(AppModule, adapter, {
    bodyParser: false,
    abortOnError: false,
    // Start-up lines wait in a buffer until pino takes over below, so every line is JSON.
    ...(silent ? { logger: false } : { bufferLogs: true }),
  });
  const logger = app.get<Logger>(ROOT_LOGGER);
  if (silent) logger.level = 'silent';
  else app.useLogger(app.get(PinoNestLogger));
  const fastify = app.getHttpAdapter().getInstance();
  const config = app.get(AppConfig);
  // First, so that a request past the pipelining limit runs no other hook.
  guardConnections(fastify, HTTP_REQUEST_TIMEOUT_MS);
  registerJsonParser(fastify);
  // The batch route's own body limit: Fastify's route option, set as Nest declares the route (at init).
  fastify.addHook('onRoute', (route) => {
    if (route.url === REGISTER_BATCH_PATH) route.bodyLimit = BATCH_BODY_LIMIT_BYTES;
  });
  closeConnectionsWhileDraining(fastify, app.get(ReadinessState));
  // Before the documentation routes are declared, so that they get the page headers.
  addSecurityHeaders(fastify, isDocsUiRoute, DOCS_PAGE_HEADERS);
  echoRequestId(fastify);
  logAnswered = logResponses(fastify, logger);
  if (config.get('METRICS_ENABLED')) observeHttpRequests(fastify, app.get(HttpMetrics));
  if (tracingEnabled()) nameServerSpans(fastify);
  // CORS stays off (no Access-Control-* header on any response) unless CORS_ORIGINS lists origins.
  const origins = config.get('CORS_ORIGINS');
  if (origins.length > 0) app.enableCors(corsOptions(origins));
  // Public (plain Fastify routes, outside Nest's guards); off: /docs and /docs-json answer 404.
  if (config.get('DOCS_ENABLED')) setupOpenApi(app);
  return app;
}
