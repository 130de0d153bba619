import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { JobProcessor } from './job.processor';

/** Up while this process's BullMQ worker is running and not closing. */
@Injectable()
export class WorkerHealthIndicator {
  constructor(
    private readonly processor: JobProcessor,
    private readonly health: HealthIndicatorService,
  ) {}

  isHealthy(key = 'worker') {
    const indicator = this.health.check(key);
    return this.processor.isRunning() ? indicator.up() : indicator.down({ message: 'worker is not running' });
  }
}
