// How long the HTTP server waits for a client: Fastify's options and, through its `http` option, Node's.
import type { FastifyServerOptions } from 'fastify';

/** Node's own headers timeout; a shorter request timeout lowers it, as Node requires. */
const HEADERS_TIMEOUT_MS = 60_000;

/**
 * A request whose headers and body have not all arrived within `requestTimeoutMs` is answered 408 and its
 * connection closed. Node checks its connections every `connectionsCheckingInterval` (30 s by default, which
 * would let a slow body live that much longer than the limit). Idle keep-alive connections close after
 * Fastify's keepAliveTimeout (72 s, longer than the usual load balancer's idle timeout, so it closes first).
 */
export function httpServerTimeouts(requestTimeoutMs: number): Pick<FastifyServerOptions, 'requestTimeout' | 'keepAliveTimeout'> & {
  http: { requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number };
} {
  return {
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: 72_000,
    http: {
      requestTimeout: requestTimeoutMs,
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, requestTimeoutMs),
      connectionsCheckingInterval: Math.min(1_000, requestTimeoutMs),
    },
  };
}
