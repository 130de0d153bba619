import { Module } from '@nestjs/common';
import { JobQueueController } from './job-queue.controller';
import { JobQueueModule } from './job-queue.module';

/** The job API (register, read, cancel): loaded unless APP_ROLE is worker. */
@Module({
  imports: [JobQueueModule],
  controllers: [JobQueueController],
})
export class JobApiModule {}
