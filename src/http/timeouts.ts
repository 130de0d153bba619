// How long the HTTP server waits for a client.
import type { FastifyServerOptions } from 'fastify';

/** Node's own headers timeout; a shorter request timeout lowers it, as Node requires. */
const HEADERS_TIMEOUT_MS = 60_000;

type ServerTimeouts = Pick<FastifyServerOptions, 'requestTimeout' | 'keepAliveTimeout'> & {
  http: { requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number };
};

/**
 * Fastify's own options and, through its `http` option (passed to http.createServer), Node's.
 * A request whose headers and body have not all arrived within `requestTimeoutMs` is answered 408 and its
 * connection closed. Node checks its connections every `connectionsCheckingInterval` (30 s by default, which
 * would let a slow body live that much longer than the limit). Idle keep-alive connections close after
 * Fastify's keepAliveTimeout: 72 s, longer than a load balancer's usual idle timeout (60 s), so that the
 * balancer, never the server, closes an idle connection it may be about to reuse.
 */
export function httpServerTimeouts(requestTimeoutMs: number): ServerTimeouts {
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
