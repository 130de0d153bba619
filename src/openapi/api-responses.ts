// Shorthands for documenting responses in the OpenAPI document (no runtime effect on the routes).
import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import type { HeadersObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { ErrorBodyDto } from '../http/error-body.dto';

export const RETRY_AFTER_HEADER: HeadersObject = {
  'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } },
};

/** What a 429 of the rate limit carries (on every rate-limited route). */
export const RATE_LIMIT_HEADERS: HeadersObject = {
  ...RETRY_AFTER_HEADER,
  'X-RateLimit-Limit': { schema: { type: 'integer' } },
  'X-RateLimit-Remaining': { schema: { type: 'integer' } },
  'X-RateLimit-Reset': { schema: { type: 'integer' } },
};

/** An error answer with the `{statusCode, message, error}` body. */
export const ApiError = (
  status: number,
  description: string,
  headers?: HeadersObject,
): MethodDecorator & ClassDecorator =>
  ApiResponse({ status, description, type: ErrorBodyDto, ...(headers ? { headers } : {}) });

/** What every authenticated route may answer besides its own results. */
export const ApiAuthenticatedErrors = (): MethodDecorator & ClassDecorator =>
  applyDecorators(
    ApiError(401, 'No bearer token, or one that is malformed, badly signed, expired or from another issuer', {
      'WWW-Authenticate': { description: 'Bearer challenge', schema: { type: 'string' } },
    }),
    ApiError(403, 'The token lacks the scope this route requires (`Insufficient scope`)'),
    ApiError(
      429,
      '`Too many requests`: over RATE_LIMIT_PER_MINUTE requests a minute for this client',
      RATE_LIMIT_HEADERS,
    ),
    ApiError(503, '`Job queue is unavailable`: Redis did not answer within REDIS_TIMEOUT_MS', RETRY_AFTER_HEADER),
  );
