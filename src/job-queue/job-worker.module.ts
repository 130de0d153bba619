import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { workerConnection } from '../redis/redis.module';
import { JobProcessor } from './job.processor';
import { WorkerHealthIndicator } from './worker.health';

/** The worker and its patient Redis connection: loaded unless APP_ROLE is api. */
@Module({
  imports: [TerminusModule],
  providers: [workerConnection, JobProcessor, WorkerHealthIndicator],
  exports: [WorkerHealthIndicator],
})
export class JobWorkerModule {}
