// Request ids: taken from the client's X-Request-Id when it is a sane token, generated otherwise.
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';

/** At most 128 characters of letters, digits, dot, underscore and dash: safe in a log line and a header. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

export function isValidRequestId(value: unknown): value is string {
  return typeof value === 'string' && SANE_REQUEST_ID.test(value);
}

/**
 * Fastify's genReqId, so the id is Fastify's request.id: in the access log (reqId) and in the X-Request-Id
 * response header. A caller's id that is not sane (too long, spaces, control characters, the header sent
 * twice) is replaced rather than trusted into the logs.
 */
export function requestIdFor(request: IncomingMessage): string {
  const sent = request.headers[REQUEST_ID_HEADER];
  return isValidRequestId(sent) ? sent : randomUUID();
}

/** Every response, errors and 404s included, tells the caller which id its request was logged under. */
export function echoRequestId(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
}
