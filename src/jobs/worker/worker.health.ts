import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { JobProcessor } from './job.processor';

/** Up while this process's BullMQ worker is running, not closing, and fetching (not wedged). */
@Injectable()
export class WorkerHealthIndicator {
  constructor(
    private readonly processor: JobProcessor,
    private readonly health: HealthIndicatorService,
  ) {}

  isHealthy(key = 'worker') {
    const indicator = this.health.check(key);
    if (!this.processor.isRunning()) return indicator.down({ message: 'worker is not running' });
    const stalledMs = this.processor.fetchStalledForMs();
    if (stalledMs > 0) {
      return indicator.down({ message: `worker has not fetched jobs for ${Math.floor(stalledMs / 1_000)} s` });
    }
    return indicator.up();
  }
}
