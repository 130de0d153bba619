// The health routes' answers in the OpenAPI document: our checks (redis, worker) and their real messages,
// in place of terminus's generic examples (a `database` check, a 503 on liveness).
import { applyDecorators } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';

const check: SchemaObject = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['up', 'down'] },
    latency_ms: { type: 'number', description: 'redis, when up: how long the check took' },
    message: { type: 'string', description: 'when down: why' },
  },
};
const checks: SchemaObject = { type: 'object', additionalProperties: check };

/** terminus's body: `status`, then the checks that passed (`info`), failed (`error`) and all of them (`details`). */
const healthBody = (statuses: string[]): SchemaObject => ({
  type: 'object',
  required: ['status', 'info', 'error', 'details'],
  properties: { status: { type: 'string', enum: statuses }, info: checks, error: checks, details: checks },
});

const body = (status: string, info: object, error: object) => ({ status, info, error, details: { ...info, ...error } });
const redisUp = { redis: { status: 'up', latency_ms: 0.4 } };
const workerUp = { worker: { status: 'up' } };

const LIVE_OK = body('ok', {}, {});

const { ok: READY_OK, ...READY_DOWN } = {
  ok: { summary: 'Redis answers and the worker runs', value: body('ok', { ...redisUp, ...workerUp }, {}) },
  redisDown: {
    summary: 'Redis is not connected (the message gives the connection state, e.g. reconnecting)',
    value: body('error', workerUp, { redis: { status: 'down', message: 'connection reconnecting' } }),
  },
  redisSlow: {
    summary: 'Redis did not answer PING within REDIS_TIMEOUT_MS',
    value: body('error', workerUp, { redis: { status: 'down', message: 'PING timed out after 500 ms' } }),
  },
  workerDown: {
    summary: "This process's worker is not running",
    value: body('error', redisUp, { worker: { status: 'down', message: 'worker is not running' } }),
  },
  workerWedged: {
    summary: "This process's worker runs but has fetched nothing for WORKER_FETCH_STALL_MS while it had a free slot",
    value: body('error', redisUp, { worker: { status: 'down', message: 'worker has not fetched jobs for 31 s' } }),
  },
  shuttingDown: { summary: 'Shutdown has begun', value: body('shutting_down', {}, {}) },
};

/** GET /health/live: always 200 while the process answers; it checks nothing. */
export const ApiLiveResponses = (): MethodDecorator =>
  applyDecorators(
    ApiOkResponse({
      description: 'The process answers (no check is made, so the lists are empty)',
      content: { 'application/json': { schema: healthBody(['ok']), example: LIVE_OK } },
    }),
  );

/** GET /health/ready: 200 with each check up, 503 naming the failing one (the worker only where one runs). */
export const ApiReadyResponses = (): MethodDecorator =>
  applyDecorators(
    ApiOkResponse({
      description: 'Redis answers PING within REDIS_TIMEOUT_MS and the worker (where this process runs one) is running',
      content: { 'application/json': { schema: healthBody(['ok']), examples: { ok: READY_OK } } },
    }),
    ApiServiceUnavailableResponse({
      description: 'A check failed (named under `error`), or shutdown has begun (`shutting_down`)',
      content: {
        'application/json': {
          schema: healthBody(['error', 'shutting_down']),
          examples: READY_DOWN,
        },
      },
    }),
  );
