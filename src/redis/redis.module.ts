import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import Redis from 'ioredis';
import type { Env } from '../config/env.validation';
import { closeRedisConnection, createRedisConnection } from './redis-connection.factory';
import { REDIS_PRODUCER, REDIS_WORKER } from './redis.constants';
import { RedisHealthIndicator } from './redis.health';

@Global()
@Module({
  imports: [TerminusModule],
  providers: [
    {
      provide: REDIS_PRODUCER,
      inject: [ConfigService],
      useFactory: (config: ConfigService<Env, true>) => createRedisConnection(config.get('REDIS_URL'), 'producer'),
    },
    {
      provide: REDIS_WORKER,
      inject: [ConfigService],
      useFactory: (config: ConfigService<Env, true>) => createRedisConnection(config.get('REDIS_URL'), 'worker'),
    },
    RedisHealthIndicator,
  ],
  exports: [REDIS_PRODUCER, REDIS_WORKER, RedisHealthIndicator],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(
    @Inject(REDIS_PRODUCER) private readonly producer: Redis,
    @Inject(REDIS_WORKER) private readonly worker: Redis,
    private readonly config: ConfigService<Env, true>,
  ) {}

  // The last phase of shutdown: the worker has closed (beforeApplicationShutdown) and HTTP has drained.
  async onApplicationShutdown(): Promise<void> {
    const ms = Math.min(1_000, this.config.get('SHUTDOWN_TIMEOUT_MS'));
    await Promise.all([closeRedisConnection(this.producer, ms), closeRedisConnection(this.worker, ms)]);
  }
}
