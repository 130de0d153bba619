// One JSON error shape for every failure, including those raised by Fastify before Nest routes the request.
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
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

export function errorBody(exception: HttpException): ErrorBody {
  const statusCode = exception.getStatus();
  const error = STATUS_CODES[statusCode] ?? 'Error';
  const response = exception.getResponse();
  if (typeof response === 'string') return { statusCode, message: response, error };
  const { message, error: name } = response as Partial<ErrorBody>;
  return { statusCode, message: message ?? error, error: typeof name === 'string' ? name : error };
}

@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    let body: ErrorBody;
    if (exception instanceof HttpException) {
      body = errorBody(exception);
      const headers = extraHeaders.get(exception);
      if (headers) reply.headers(headers);
    } else {
      // Never leak internals (stack, Redis URL) to the client; the log has them.
      this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
      const statusCode = HttpStatus.INTERNAL_SERVER_ERROR;
      body = { statusCode, message: 'Internal server error', error: STATUS_CODES[statusCode]! };
    }
    if (reply.sent) return;
    void reply.status(body.statusCode).send(body);
  }
}
