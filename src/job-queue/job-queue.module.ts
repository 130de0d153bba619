import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import Redis from 'ioredis';
import type { Env } from '../config/env.validation';
import { REDIS_PRODUCER } from '../redis/redis.constants';
import { IdempotencyService } from './idempotency.service';
import { JobQueueController } from './job-queue.controller';
import { QUEUE_NAME } from './job-queue.constants';
import { JobQueueService } from './job-queue.service';
import { JobProcessor } from './job.processor';
import { WorkerHealthIndicator } from './worker.health';

@Module({
  imports: [
    TerminusModule,
    BullModule.registerQueueAsync({
      name: QUEUE_NAME,
      inject: [REDIS_PRODUCER, ConfigService],
      // The prefix's braces make it a Redis Cluster hash tag: all of the queue's keys share one slot.
      useFactory: (connection: Redis, config: ConfigService<Env, true>) => ({
        connection,
        prefix: config.get('QUEUE_PREFIX'),
      }),
    }),
  ],
  controllers: [JobQueueController],
  providers: [JobQueueService, IdempotencyService, JobProcessor, WorkerHealthIndicator],
  exports: [WorkerHealthIndicator],
})
export class JobQueueModule {}
