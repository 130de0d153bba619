import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import Redis from 'ioredis';
import { REDIS_PRODUCER } from '../redis/redis.constants';
import { JobQueueController } from './job-queue.controller';
import { QUEUE_NAME, QUEUE_PREFIX } from './job-queue.constants';
import { JobQueueService } from './job-queue.service';
import { JobProcessor } from './job.processor';
import { WorkerHealthIndicator } from './worker.health';

@Module({
  imports: [
    TerminusModule,
    BullModule.registerQueueAsync({
      name: QUEUE_NAME,
      inject: [REDIS_PRODUCER],
      useFactory: (connection: Redis) => ({ connection, prefix: QUEUE_PREFIX }),
    }),
  ],
  controllers: [JobQueueController],
  providers: [JobQueueService, JobProcessor, WorkerHealthIndicator],
  exports: [WorkerHealthIndicator],
})
export class JobQueueModule {}
