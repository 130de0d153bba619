// Fastify's frameworkErrors: the errors its router raises before any route (or hook) runs, in the API's shape.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { ErrorBody } from '../common/http-exception.filter';
import { REQUEST_ID_HEADER } from '../logging/request-id';
import { API_SECURITY_HEADERS } from '../security/security-headers';

/** Fixed messages: Fastify's own name the path, which a scanner can make as long as a request line. */
const MESSAGES: Readonly<Record<string, string>> = {
  FST_ERR_BAD_URL: 'Malformed URL',
  FST_ERR_MAX_PARAM_LENGTH: 'Request URL is too long',
};

export function frameworkErrorBody(error: FastifyError): ErrorBody {
  const known = MESSAGES[error.code];
  const statusCode = known !== undefined && typeof error.statusCode === 'number' ? error.statusCode : 500;
  return {
    statusCode,
    message: known ?? 'Internal server error',
    error: STATUS_CODES[statusCode] ?? 'Error',
  };
}

/**
 * `onAnswered` runs once the answer is written (the access log): no hook runs for these requests, so the
 * response's own 'finish' stands in for onResponse.
 */
export function frameworkErrorHandler(onAnswered: (request: FastifyRequest, reply: FastifyReply) => void) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    const body = frameworkErrorBody(error);
    reply.raw.once('finish', () => onAnswered(request, reply));
    void reply.headers(API_SECURITY_HEADERS).header(REQUEST_ID_HEADER, request.id).status(body.statusCode).send(body);
  };
}
