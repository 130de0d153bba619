import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import type { RedisClient } from '../redis/redis-connection.factory';
import { REDIS_PRODUCER } from '../redis/redis.constants';
import { QUEUE_NAME } from './job';
import { AppConfig } from '../config/app-config';

/** The BullMQ queue, on the producer connection: every role has it (the API adds to it, metrics count it). */
@Module({
  imports: [
    BullModule.registerQueueAsync({
      name: QUEUE_NAME,
      inject: [REDIS_PRODUCER, AppConfig],
      // The prefix's braces make it a Redis Cluster hash tag: all of the queue's keys share one slot.
      useFactory: (connection: RedisClient, config: AppConfig) => ({
        connection,
        prefix: config.get('QUEUE_PREFIX'),
      }),
    }),
  ],
  exports: [BullModule],
})
export class QueueModule {}
