import { Module } from '@nestjs/common';
import { QueueModule } from '../queue.module';
import { IdempotencyService } from './idempotency.service';
import { JobsController } from './jobs.controller';
import { JobsService } from './jobs.service';
import { SchedulesController } from './schedules.controller';
import { SchedulesService } from './schedules.service';

/** Where a request enters: jobs (register, read, list, move, cancel) and schedules. Loaded unless APP_ROLE is worker. */
@Module({
  imports: [QueueModule],
  controllers: [JobsController, SchedulesController],
  providers: [JobsService, IdempotencyService, SchedulesService],
})
export class JobsApiModule {}
