import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from '../config/env.validation';
import type { RedisClient } from '../redis/redis-connection.factory';
import { REDIS_PRODUCER } from '../redis/redis.constants';
import { IdempotencyService } from './idempotency.service';
import { QUEUE_NAME } from './job-queue.constants';
import { JobQueueService } from './job-queue.service';

/** The queue and its producer: present in every role (the worker role still reads queue depth). */
@Module({
  imports: [
    BullModule.registerQueueAsync({
      name: QUEUE_NAME,
      inject: [REDIS_PRODUCER, ConfigService],
      // The prefix's braces make it a Redis Cluster hash tag: all of the queue's keys share one slot.
      useFactory: (connection: RedisClient, config: ConfigService<Env, true>) => ({
        connection,
        prefix: config.get('QUEUE_PREFIX'),
      }),
    }),
  ],
  providers: [JobQueueService, IdempotencyService],
  exports: [JobQueueService, IdempotencyService, BullModule],
})
export class JobQueueModule {}
