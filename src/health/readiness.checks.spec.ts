import { Registry } from 'prom-client';
import type { WorkerHealthIndicator } from '../jobs/worker/worker.health';
import type { RedisHealthIndicator } from '../redis/redis.health';
import { ReadinessChecks } from './readiness.checks';
import { ReadinessState } from './readiness.state';

const indicator = (key: string, status: 'up' | 'down') => ({ [key]: { status } });

function checksWith(redis: 'up' | 'down', worker?: 'up' | 'down') {
  const registry = new Registry();
  const state = new ReadinessState();
  const checks = new ReadinessChecks(
    { isHealthy: async (key: string) => indicator(key, redis) } as unknown as RedisHealthIndicator,
    state,
    registry,
    worker && ({ isHealthy: (key: string) => indicator(key, worker) } as unknown as WorkerHealthIndicator),
  );
  return { registry, state, checks };
}

const gauge = async (registry: Registry) =>
  Object.fromEntries(
    [...(await registry.metrics()).matchAll(/^dm_jobqueue_ready\{check="(\w+)"\} (\d)$/gm)].map(([, check, value]) => [
      check,
      Number(value),
    ]),
  );

describe('ReadinessChecks', () => {
  it('reports each check and all together on /metrics, as the probe answers', async () => {
    expect(await gauge(checksWith('up', 'up').registry)).toEqual({ redis: 1, worker: 1, all: 1 });
    expect(await gauge(checksWith('down', 'up').registry)).toEqual({ redis: 0, worker: 1, all: 0 });
    expect(await gauge(checksWith('up', 'down').registry)).toEqual({ redis: 1, worker: 0, all: 0 });
  });

  it('checks no worker in an API-only process', async () => {
    const { registry, checks } = checksWith('up');
    expect(checks.checks).toHaveLength(1);
    expect(await gauge(registry)).toEqual({ redis: 1, all: 1 });
  });

  it('reads not ready once shutdown has begun, with every check still up', async () => {
    const { registry, state } = checksWith('up', 'up');
    state.onModuleDestroy();
    expect(await gauge(registry)).toEqual({ redis: 1, worker: 1, all: 0 });
  });
});
