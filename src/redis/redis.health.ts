import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { Cluster } from 'ioredis';
import { withTimeout } from '../common/timeout';
import type { RedisClient } from './redis-connection.factory';
import { REDIS_PRODUCER } from './redis.constants';
import { AppConfig } from '../config/app-config';

/**
 * PING with a timeout (on a cluster, CLUSTER INFO must also say cluster_state:ok); never throws, so a
 * dead or frozen Redis is a 503, not a 500 or a hang.
 */
@Injectable()
export class RedisHealthIndicator {
  constructor(
    @Inject(REDIS_PRODUCER) private readonly client: RedisClient,
    private readonly health: HealthIndicatorService,
    private readonly config: AppConfig,
  ) {}

  async isHealthy(key = 'redis') {
    const indicator = this.health.check(key);
    if (this.client.status !== 'ready') {
      return indicator.down({ message: `connection ${this.client.status}` });
    }
    const started = performance.now();
    try {
      await withTimeout(this.check(), this.config.get('REDIS_TIMEOUT_MS'), 'PING');
      return indicator.up({ latency_ms: Math.round((performance.now() - started) * 10) / 10 });
    } catch (error) {
      return indicator.down({ message: (error as Error).message });
    }
  }

  private async check(): Promise<void> {
    await this.client.ping();
    if (this.client instanceof Cluster) {
      const info = String(await this.client.cluster('INFO'));
      if (!info.includes('cluster_state:ok')) throw new Error('cluster_state is not ok');
    }
  }
}
