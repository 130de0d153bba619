// Security headers (helmet), worked out once at start-up: an API's set on every response, a web page's set on
// the HTML pages (the Swagger UI and the queue dashboard).
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * What a browser needs to handle a JSON (or plain-text) API response safely, as the OWASP REST Security Cheat
 * Sheet lists it:
 * - `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`: were a response ever rendered, it
 *   could load nothing and be framed by nobody;
 * - `X-Frame-Options: DENY`: the same for browsers without `frame-ancestors`;
 * - `X-Content-Type-Options: nosniff`: JSON is never sniffed into HTML or script;
 * - `Strict-Transport-Security`: HTTPS only, once a browser has seen the service over HTTPS;
 * - `Cross-Origin-Resource-Policy: same-origin`: no other site can pull a response in with `<script>` or
 *   `<img>` (CORS requests, when CORS_ORIGINS allows them, are not affected).
 * helmet's other defaults govern documents (how a page opens windows, sends referrers, prefetches DNS, is run
 * by IE or Flash) and mean nothing on a JSON response; the HTML pages get them (`pageSecurityHeaders`).
 */
const API_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"] },
  },
  frameguard: { action: 'deny' },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  referrerPolicy: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
};

/**
 * The headers helmet would set, worked out once. Its middleware (and @fastify/helmet) works them out again for
 * every request, parsing the Content-Security-Policy each time; they never change here.
 */
function helmetHeaders(options: HelmetOptions): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: string | number) => (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => delete headers[name.toLowerCase()],
  };
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, () => undefined);
  return Object.freeze(headers);
}

/** The API's security headers, lower-case names. */
export const API_SECURITY_HEADERS = helmetHeaders(API_OPTIONS);

/**
 * An HTML page's: helmet's defaults, with its own Content-Security-Policy. Every name of API_SECURITY_HEADERS
 * is among them, so set after those they replace them all.
 */
export function pageSecurityHeaders(contentSecurityPolicy: string): Readonly<Record<string, string>> {
  return Object.freeze({ ...helmetHeaders({}), 'content-security-policy': contentSecurityPolicy });
}

/** The Content-Security-Policy helmet builds from its defaults and these directives. */
export function helmetPolicy(
  directives: NonNullable<Exclude<HelmetOptions['contentSecurityPolicy'], boolean>>['directives'],
): string {
  return helmetHeaders({ contentSecurityPolicy: { directives } })['content-security-policy'];
}

/**
 * The API's headers on every response, from one hook that copies them; the routes `isPage` names (declared
 * after this call) get `pageHeaders` instead, through a route-level hook added as each is declared, so no other
 * route does any extra work.
 */
export function addSecurityHeaders(
  fastify: FastifyInstance,
  isPage: (url: string) => boolean,
  pageHeaders: Readonly<Record<string, string>>,
): void {
  fastify.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(API_SECURITY_HEADERS);
    done();
  });
  const asPage: onRequestHookHandler = (_request, reply, done) => {
    void reply.headers(pageHeaders);
    done();
  };
  fastify.addHook('onRoute', (route) => {
    if (!isPage(route.url)) return;
    // Route-level hooks run after the application's: this one replaces the API's headers set above.
    const own =
      route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...own, asPage];
  });
}
