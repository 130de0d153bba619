// The errors Fastify and Node's HTTP parser answer before any route (or hook) runs, in the API's shape and headers.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorBody } from './http-exception.filter';
import { REQUEST_ID_HEADER } from '../observability/logging/request-id';
import { API_SECURITY_HEADERS } from './security-headers';

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

/** What Node's HTTP parser refuses before there is a request: a request timeout, oversized headers, bad HTTP. */
export function clientErrorBody(error: NodeJS.ErrnoException): ErrorBody {
  const [statusCode, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request timed out']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request headers are too large']
        : [400, 'Malformed HTTP request'];
  return { statusCode, message, error: STATUS_CODES[statusCode]! };
}

const RAW_SECURITY_HEADERS = Object.entries(API_SECURITY_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('');

/**
 * Fastify's clientErrorHandler: its default answer, with the API's body and headers. There is no request (and
 * so no request id from the client) yet: a fresh id, so that a caller can still quote one.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    const body = clientErrorBody(error);
    const json = JSON.stringify(body);
    const head =
      `HTTP/1.1 ${body.statusCode} ${body.error}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(json)}\r\n${REQUEST_ID_HEADER}: ${randomUUID()}\r\n${RAW_SECURITY_HEADERS}`;
    socket.write(`${head}\r\n${json}`);
  }
  socket.destroy(error);
}
