// The queue dashboard (bull-board) at /admin/queues: plain Fastify routes in an encapsulated plugin, so
// its access hook and its web page's security headers apply to the dashboard and nothing else.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardFastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { pageSecurityHeaders } from '../http/security-headers';
import { BASIC_CHALLENGE, basicAuthChecker, DashboardCredentials } from './basic-auth';
import { FailedLoginLimit } from './login-limit';
import { JOB_DATA_ROUTES, writeRefusal } from './write-policy';

export const DASHBOARD_PATH = '/admin/queues';

/**
 * The dashboard's policy, sent with helmet's other page headers in place of the API's (security-headers.ts).
 * The UI is a React bundle served from 'self' (no inline or eval'd script: its one inline <script> is
 * application/json data); its page has inline style attributes and a <style> block; it fetches its API from
 * 'self' and uses data: images. No third-party origin: the Google Fonts link is taken out of the page
 * (withoutThirdPartyLinks), so the UI falls back to the system's sans-serif and monospace fonts.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "connect-src 'self'",
  "font-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'",
].join(';');

const DASHBOARD_HEADERS = pageSecurityHeaders(DASHBOARD_CSP);

/** A <link> to another origin in bull-board's page (its index.ejs links Google Fonts; it has no option for that). */
const THIRD_PARTY_LINK = /<link\b[^>]*\bhref="(?:https?:)?\/\/[^"]*"[^>]*>\s*/gi;

/** The dashboard page without any <link> to another origin, so a browser fetches nothing from third parties. */
export function withoutThirdPartyLinks(html: string): string {
  return html.replace(THIRD_PARTY_LINK, '');
}

export const TOO_MANY_FAILED_LOGINS = 'Too many failed dashboard logins';

export interface DashboardOptions {
  credentials: DashboardCredentials;
  /** DASHBOARD_READ_ONLY: nothing can be changed through the dashboard. */
  readOnly: boolean;
}

/** An answer in the API's error shape ({statusCode, message, error}), never cached. */
function refuse(
  reply: FastifyReply,
  statusCode: number,
  message: string,
  headers: Record<string, string> = {},
): FastifyReply {
  return reply
    .code(statusCode)
    .headers({ ...headers, 'cache-control': 'no-store' })
    .send({ statusCode, message, error: STATUS_CODES[statusCode] });
}

/** The dashboard's routes, hook and headers; registered under DASHBOARD_PATH by registerDashboard. */
export function dashboardPlugin(queues: Queue[], options: DashboardOptions): FastifyPluginAsync {
  const authorized = basicAuthChecker(options.credentials);
  // One per dashboard, so per process, like the API's rate limit.
  const loginLimit = new FailedLoginLimit();
  const jobDataRoutes = new Set(JOB_DATA_ROUTES.map((route) => `${DASHBOARD_PATH}${route}`));
  return async (instance) => {
    instance.addHook('onRequest', async (request, reply) => {
      // First, so that a shut-out address learns nothing more, not even that a guess was right.
      const blockedFor = loginLimit.blockedFor(request.ip);
      if (blockedFor > 0) return refuse(reply, 429, TOO_MANY_FAILED_LOGINS, { 'retry-after': String(blockedFor) });
      const authorization = request.headers.authorization;
      if (!authorized(authorization)) {
        // No header is the browser asking for the challenge, not a guess: not counted.
        const wait = authorization === undefined ? 0 : await loginLimit.failed(request.ip);
        if (wait > 0) return refuse(reply, 429, TOO_MANY_FAILED_LOGINS, { 'retry-after': String(wait) });
        return refuse(reply, 401, 'Dashboard credentials required', { 'www-authenticate': BASIC_CHALLENGE });
      }
      const refusal = writeRefusal(
        {
          method: request.method,
          writesJobData: jobDataRoutes.has(request.routeOptions.url ?? ''),
          headers: request.headers,
        },
        options.readOnly,
      );
      if (refusal !== undefined) return refuse(reply, refusal.statusCode, refusal.message, refusal.headers);
    });
    instance.addHook('onSend', (_request, reply, payload, done) => {
      void reply.headers(DASHBOARD_HEADERS);
      const page = typeof payload === 'string' && String(reply.getHeader('content-type')).startsWith('text/html');
      done(null, page ? withoutThirdPartyLinks(payload) : payload);
    });
    const serverAdapter = new BullBoardFastifyAdapter();
    serverAdapter.setBasePath(DASHBOARD_PATH);
    // bull-board's own read-only mode: its state-changing handlers answer 405 and its UI hides their buttons.
    const readOnlyMode = options.readOnly;
    createBullBoard({ queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode })), serverAdapter });
    await instance.register(serverAdapter.registerPlugin());
  };
}

/** Adds the dashboard to a Fastify instance that has not started yet (before ready/listen). */
export function registerDashboard(fastify: FastifyInstance, queues: Queue[], options: DashboardOptions): void {
  void fastify.register(dashboardPlugin(queues, options), { prefix: DASHBOARD_PATH });
}
