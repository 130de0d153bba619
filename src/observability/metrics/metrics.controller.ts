import { Controller, Get, Inject, NotFoundException, Res } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import type { FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import { Public } from '../../auth/auth.decorators';
import { METRICS_REGISTRY } from './metrics.registry';
import { AppConfig } from '../../config/app-config';

/**
 * Prometheus scrapes this without a token and is never rate limited. Keep it internal: docs/OPERATIONS.md says
 * how (do not route /metrics through the ingress, or METRICS_ENABLED=false).
 */
@ApiTags('metrics')
@Public()
@SkipThrottle()
@Controller('metrics')
export class MetricsController {
  private readonly enabled: boolean;

  constructor(
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
    config: AppConfig,
  ) {
    this.enabled = config.get('METRICS_ENABLED');
  }

  @Get()
  @ApiOperation({ summary: 'Prometheus metrics (no token; keep it off the public ingress)' })
  @ApiProduces('text/plain')
  @ApiOkResponse({
    description: 'Prometheus text exposition format 0.0.4',
    content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: { type: 'string' } } },
  })
  @ApiNotFoundResponse({ description: 'METRICS_ENABLED=false' })
  async metrics(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    // Switched off, the endpoint answers like any unknown route.
    if (!this.enabled) throw new NotFoundException('Cannot GET /metrics');
    const text = await this.registry.metrics();
    void reply.type(this.registry.contentType);
    return text;
  }
}
