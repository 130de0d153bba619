import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheck, HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import { SkipThrottle } from '@nestjs/throttler';
import { Public } from '../auth/auth.decorators';
import { WorkerHealthIndicator } from '../job-queue/worker.health';
import { RedisHealthIndicator } from '../redis/redis.health';
import { ReadinessState } from './readiness.state';

// Probes are never rate limited: an orchestrator polling often must not get a 429 and restart the service.
@Public()
@SkipThrottle()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly redis: RedisHealthIndicator,
    private readonly worker: WorkerHealthIndicator,
    private readonly readiness: ReadinessState,
  ) {}

  /** Liveness: the process answers. Touches no dependency, so a Redis outage never gets it restarted. */
  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /** Readiness: Redis answers PING in time and the worker runs; 503 naming the failing check otherwise. */
  @Get(['ready', ''])
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    if (this.readiness.shuttingDown) {
      throw new ServiceUnavailableException({
        status: 'shutting_down',
        info: {},
        error: {},
        details: {},
      });
    }
    return this.health.check([() => this.redis.isHealthy('redis'), () => this.worker.isHealthy('worker')]);
  }
}
