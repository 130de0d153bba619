import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { workerConnection } from '../../redis/redis.module';
import { JobProcessor } from './job.processor';
import { WorkerHealthIndicator } from './worker.health';

/**
 * Where a job runs: the worker and its patient Redis connection, loaded unless APP_ROLE is api. Global so that
 * the health check can take its indicator as an optional dependency without importing the module.
 */
@Global()
@Module({
  imports: [TerminusModule],
  providers: [workerConnection, JobProcessor, WorkerHealthIndicator],
  exports: [WorkerHealthIndicator],
})
export class JobsWorkerModule {}
