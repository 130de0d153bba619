// The queue dashboard (bull-board) at /admin/queues: plain Fastify routes in an encapsulated plugin, so
// its Basic-auth hook and its web page's security headers apply to the dashboard and nothing else.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardFastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { pageSecurityHeaders } from '../security/security-headers';
import { BASIC_CHALLENGE, basicAuthChecker, DashboardCredentials } from './basic-auth';

export const DASHBOARD_PATH = '/admin/queues';

/**
 * The dashboard's policy, sent with helmet's other page headers in place of the API's (security-headers.ts).
 * The UI is a React bundle served from 'self' (no inline or eval'd script: its one inline <script> is
 * application/json data); its page has inline style attributes and a <style> block, and links the
 * IBM Plex fonts from Google Fonts; it fetches its API from 'self' and uses data: images.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "connect-src 'self'",
  "font-src 'self' https://fonts.gstatic.com data:",
  "form-action 'self'",
  "frame-ancestors 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com",
].join(';');

const DASHBOARD_HEADERS = pageSecurityHeaders(DASHBOARD_CSP);

/** The dashboard's routes, hook and headers; registered under DASHBOARD_PATH by registerDashboard. */
export function dashboardPlugin(queues: Queue[], credentials: DashboardCredentials): FastifyPluginAsync {
  const authorized = basicAuthChecker(credentials);
  return async (instance) => {
    instance.addHook('onRequest', (request, reply, done) => {
      if (authorized(request.headers.authorization)) return done();
      void reply
        .code(401)
        .header('www-authenticate', BASIC_CHALLENGE)
        .header('cache-control', 'no-store')
        .send({ statusCode: 401, message: 'Dashboard credentials required', error: 'Unauthorized' });
    });
    instance.addHook('onSend', (_request, reply, payload, done) => {
      void reply.headers(DASHBOARD_HEADERS);
      done(null, payload);
    });
    const serverAdapter = new BullBoardFastifyAdapter();
    serverAdapter.setBasePath(DASHBOARD_PATH);
    createBullBoard({ queues: queues.map((queue) => new BullMQAdapter(queue)), serverAdapter });
    await instance.register(serverAdapter.registerPlugin());
  };
}

/** Adds the dashboard to a Fastify instance that has not started yet (before ready/listen). */
export function registerDashboard(fastify: FastifyInstance, queues: Queue[], credentials: DashboardCredentials): void {
  void fastify.register(dashboardPlugin(queues, credentials), { prefix: DASHBOARD_PATH });
}
