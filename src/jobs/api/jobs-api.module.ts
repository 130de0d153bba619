import { Module } from '@nestjs/common';
import { QueueModule } from '../queue.module';
import { IdempotencyService } from './idempotency.service';
import { JobsController } from './jobs.controller';
import { JobsService } from './jobs.service';

/** Where a request enters: register, read, cancel. Loaded unless APP_ROLE is worker. */
@Module({
  imports: [QueueModule],
  controllers: [JobsController],
  providers: [JobsService, IdempotencyService],
})
export class JobsApiModule {}
