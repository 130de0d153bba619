import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheck, HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import { Public } from '../auth/auth.decorators';
import { ApiLiveResponses, ApiReadyResponses } from './health.openapi';
import { ReadinessChecks } from './readiness.checks';

// Probes are never rate limited: an orchestrator polling often must not get a 429 and restart the service.
// The OpenAPI answers are ours (health.openapi.ts), not terminus's generic ones (`swaggerDocumentation: false`).
@ApiTags('health')
@Public()
@SkipThrottle()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly readiness: ReadinessChecks,
  ) {}

  /** Liveness: the process answers. Touches no dependency, so a Redis outage never gets it restarted. */
  @Get('live')
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiLiveResponses()
  @ApiOperation({ summary: 'Liveness: the process answers (no token)' })
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /** Readiness: Redis answers PING in time and the worker (if any) runs; 503 naming the failing check otherwise. */
  @Get(['ready', ''])
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiReadyResponses()
  @ApiOperation({ summary: 'Readiness: Redis and the worker (if any) answer; 503 naming the failing check (no token)' })
  ready(): Promise<HealthCheckResult> {
    if (this.readiness.state.shuttingDown) {
      throw new ServiceUnavailableException({
        status: 'shutting_down',
        info: {},
        error: {},
        details: {},
      });
    }
    return this.health.check(this.readiness.checks);
  }
}
