// What readiness checks, once for both who ask: GET /health/ready (terminus) and the dm_jobqueue_ready gauge.
import { Inject, Injectable, Optional } from '@nestjs/common';
import type { HealthIndicatorFunction } from '@nestjs/terminus';
import { Gauge, Registry } from 'prom-client';
import { WorkerHealthIndicator } from '../jobs/worker/worker.health';
import { METRICS_REGISTRY } from '../observability/metrics/metrics.registry';
import { RedisHealthIndicator } from '../redis/redis.health';
import { ReadinessState } from './readiness.state';

/**
 * Redis answers PING in time (a cluster: and says cluster_state:ok), and, where this process runs a worker, the
 * worker runs and fetches. The indicators never throw: a failing check reads `down`.
 */
@Injectable()
export class ReadinessChecks {
  readonly checks: HealthIndicatorFunction[];

  constructor(
    redis: RedisHealthIndicator,
    readonly state: ReadinessState,
    @Inject(METRICS_REGISTRY) registry: Registry,
    // Present where this process runs a worker (APP_ROLE all or worker), absent in an API-only process.
    @Optional() worker?: WorkerHealthIndicator,
  ) {
    this.checks = [() => redis.isHealthy('redis')];
    if (worker) this.checks.push(() => worker.isHealthy('worker'));
    // Read when Prometheus scrapes, as the probe would answer then: what an alert on "readiness down" reads while
    // the process still serves /metrics (a dead process is Prometheus's own `up == 0`).
    const ready: Gauge<'check'> = new Gauge({
      name: 'dm_jobqueue_ready',
      help: 'What GET /health/ready answers now: 1 ready (200), 0 not (503); per check (redis, worker) and all together (check="all").',
      labelNames: ['check'],
      registers: [registry],
      collect: async () => {
        const up = await this.statuses();
        for (const [check, isUp] of Object.entries(up)) ready.set({ check }, isUp ? 1 : 0);
      },
    });
  }

  /** Each check's state (true: up) and `all`, which is also false once shutdown has begun. */
  async statuses(): Promise<Record<string, boolean>> {
    const results = await Promise.all(this.checks.map(async (check) => check()));
    const up: Record<string, boolean> = {};
    // Each result is keyed by its check's name: { redis: { status: 'up', … } }.
    for (const result of results) for (const [name, { status }] of Object.entries(result)) up[name] = status === 'up';
    up.all = !this.state.shuttingDown && Object.values(up).every(Boolean);
    return up;
  }
}
