// Duration of every HTTP request, by method, route pattern and status code.
import { Inject, Injectable } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { Histogram, Registry } from 'prom-client';
import { METRICS_REGISTRY } from './metrics.registry';

/** The `route` of a request that matched no route (404s, scanners): one label value, whatever the URL. */
export const UNMATCHED_ROUTE = 'unmatched';

type Label = 'method' | 'route' | 'status_code';

@Injectable()
export class HttpMetrics {
  private readonly duration: Histogram<Label>;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    this.duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from receiving an HTTP request to finishing its response.',
      labelNames: ['method', 'route', 'status_code'],
      // From 1 ms: a register answers in a few milliseconds, a 503 is bounded by REDIS_TIMEOUT_MS.
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  }

  /**
   * `route` is the route pattern (`/api/dm-jobqueue/jobs/:job_id`), never the URL: a label per job id or
   * per scanned path would make the number of series grow without bound.
   */
  observe(method: string, route: string | undefined, statusCode: number, milliseconds: number): void {
    this.duration.observe({ method, route: route ?? UNMATCHED_ROUTE, status_code: statusCode }, milliseconds / 1_000);
  }
}

/** Times every response, matched or not, through Fastify's onResponse hook (after the last byte is sent). */
export function observeHttpRequests(fastify: FastifyInstance, metrics: HttpMetrics): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    metrics.observe(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime);
    done();
  });
}
