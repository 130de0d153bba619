// One JSON error shape for every failure, including those raised by Fastify before Nest routes the request.
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';

const extraHeaders = new WeakMap<HttpException, Record<string, string>>();

/** Attaches response headers (WWW-Authenticate, Retry-After, …) to an exception; the filter sends them. */
export function withHeaders<T extends HttpException>(exception: T, headers: Record<string, string>): T {
  extraHeaders.set(exception, headers);
  return exception;
}

export interface ErrorBody {
  statusCode: number;
  message: string | string[];
  error: string;
}

/**
 * A string response (what Nest makes of Fastify's own errors) becomes `{statusCode, message, error}`;
 * an object response is already a body (Nest's built-in exceptions, terminus's health report) and is kept.
 */
export function errorBody(exception: HttpException): ErrorBody | object {
  const statusCode = exception.getStatus();
  const response = exception.getResponse();
  if (typeof response === 'string')
    return { statusCode, message: response, error: STATUS_CODES[statusCode] ?? 'Error' };
  // Nest's built-in exceptions build {message, error, statusCode}: the same keys in the order every other error has.
  if ('message' in response && 'error' in response && 'statusCode' in response) {
    const { statusCode: code, message, error, ...rest } = response as ErrorBody;
    return { statusCode: code, message, error, ...rest };
  }
  return response;
}

/**
 * The error Node gives a request whose client went away mid-body (an aborted upload), which Fastify's body
 * reader passes on: not a server error, and there is nobody left to answer.
 */
export function isClientAbort(exception: unknown, request: FastifyRequest | undefined): boolean {
  return (
    exception instanceof Error &&
    exception.message === 'aborted' &&
    (exception as NodeJS.ErrnoException).code === 'ECONNRESET' &&
    request?.raw.destroyed === true
  );
}

/**
 * The 4xx status of a client error raised as a plain Error with a `statusCode` (the "http-errors" convention),
 * such as @fastify/static's refusal of `/docs/%2e%2e/…` or a NUL byte in a file name; undefined for anything else.
 */
export function clientErrorStatus(exception: unknown): number | undefined {
  if (!(exception instanceof Error)) return undefined;
  const status = (exception as Error & { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status < 500 ? status : undefined;
}

@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (isClientAbort(exception, host.switchToHttp().getRequest<FastifyRequest | undefined>())) {
      // The access log has its 'request aborted' line already.
      this.logger.debug('Request body aborted by the client');
      return;
    }
    let status: number;
    let body: ErrorBody | object;
    if (exception instanceof HttpException) {
      status = exception.getStatus();
      body = errorBody(exception);
      const headers = extraHeaders.get(exception);
      if (headers) reply.headers(headers);
    } else if ((status = clientErrorStatus(exception) ?? 0) !== 0) {
      // The client's mistake, not the server's: no error log, and the status's own words rather than the library's
      // message (which can name paths).
      body = { statusCode: status, message: STATUS_CODES[status] ?? 'Error', error: STATUS_CODES[status] ?? 'Error' };
    } else {
      // Never leak internals (stack, Redis URL) to the client; the log has them.
      this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
      status = HttpStatus.INTERNAL_SERVER_ERROR;
      body = { statusCode: status, message: 'Internal server error', error: STATUS_CODES[status]! };
    }
    if (reply.sent) return;
    void reply.status(status).send(body);
  }
}
