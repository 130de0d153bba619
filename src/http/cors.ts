// CORS is off unless CORS_ORIGINS lists the exact browser origins allowed to call the API.
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/** @fastify/cors options, as app.enableCors() takes them (the package is @nestjs/platform-fastify's). */
export type CorsOptions = NonNullable<Parameters<NestFastifyApplication['enableCors']>[0]>;

export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'];
export const CORS_EXPOSED_HEADERS = ['Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'];
export const CORS_MAX_AGE_SECONDS = 600;

/** Splits a comma list, dropping blanks: `"a, b,"` is `["a", "b"]`, `""` is `[]`. */
export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

const HOST = /^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])$/;

/**
 * True for an origin exactly as a browser sends it in the Origin header: http or https, host, optional
 * non-default port, and nothing else (no path, not even "/", no credentials, no query). Anything else
 * would never match a request, so it is refused at start-up rather than silently ignored.
 */
export function isHttpOrigin(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  // The URL parser lets "*" through as a host; a browser never sends it, and CORS_ORIGINS has no wildcards.
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value && HOST.test(url.hostname);
}

/**
 * Options for app.enableCors(): exactly these origins, the headers the API uses. The origin is decided by a
 * function rather than a list so that a request from any other origin gets no CORS header at all (with a
 * list, @fastify/cors would still answer its preflight with the allowed methods and headers).
 */
export function corsOptions(origins: readonly string[]): CorsOptions {
  const allowed = new Set(origins);
  return {
    origin: (origin: string | undefined, callback: (error: Error | null, allow: string | false) => void) =>
      callback(null, origin !== undefined && allowed.has(origin) ? origin : false),
    methods: ['GET', 'HEAD', 'POST', 'DELETE'],
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    maxAge: CORS_MAX_AGE_SECONDS,
  };
}
