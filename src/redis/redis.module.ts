import { Global, Inject, Module, OnApplicationShutdown, Provider } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import {
  closeRedisConnection,
  ConnectionRole,
  createRedisConnection,
  parseHostPorts,
  RedisClient,
} from './redis-connection.factory';
import { REDIS_PRODUCER, REDIS_WORKER } from './redis.constants';
import { RedisHealthIndicator } from './redis.health';
import { AppConfig } from '../config/app-config';

/** A connection built from REDIS_URL, REDIS_CLUSTER_NODES when a cluster is configured, or REDIS_SENTINELS. */
const connection = (provide: symbol, role: ConnectionRole): Provider => ({
  provide,
  inject: [AppConfig],
  useFactory: (config: AppConfig): RedisClient =>
    createRedisConnection(
      {
        url: config.get('REDIS_URL'),
        clusterNodes: parseHostPorts(config.get('REDIS_CLUSTER_NODES') ?? ''),
        sentinels: parseHostPorts(config.get('REDIS_SENTINELS') ?? ''),
        sentinelMaster: config.get('REDIS_SENTINEL_MASTER'),
        sentinelPassword: config.get('REDIS_SENTINEL_PASSWORD'),
      },
      role,
    ),
});

/** The worker's patient connection; provided by the worker module, so an API-only process never opens it. */
export const workerConnection = connection(REDIS_WORKER, 'worker');

@Global()
@Module({
  imports: [TerminusModule],
  providers: [connection(REDIS_PRODUCER, 'producer'), RedisHealthIndicator],
  exports: [REDIS_PRODUCER, RedisHealthIndicator],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(
    @Inject(REDIS_PRODUCER) private readonly producer: RedisClient,
    private readonly config: AppConfig,
  ) {}

  // The last phase of shutdown: the worker has closed (beforeApplicationShutdown) and HTTP has drained.
  async onApplicationShutdown(): Promise<void> {
    await closeRedisConnection(this.producer, Math.min(1_000, this.config.get('SHUTDOWN_TIMEOUT_MS')));
  }
}
