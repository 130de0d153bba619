import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from '../config/env.validation';
import type { RedisClient } from '../redis/redis-connection.factory';
import { REDIS_PRODUCER } from '../redis/redis.constants';
import { QUEUE_NAME } from './job';

/** The BullMQ queue, on the producer connection: every role has it (the API adds to it, metrics count it). */
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
  exports: [BullModule],
})
export class QueueModule {}
