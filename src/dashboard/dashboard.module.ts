import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger, Module, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { QUEUE_NAME } from '../jobs/job';
import { QueueModule } from '../jobs/queue.module';
import { AppConfig } from '../config/app-config';

/**
 * Registers the dashboard when DASHBOARD_USER and DASHBOARD_PASSWORD are set, read-only unless
 * DASHBOARD_READ_ONLY=false. onModuleInit runs inside app.init() (also called by listen), before
 * Fastify is ready, so the plugin is still accepted; Nest waits for it. bull-board is loaded only then:
 * with the dashboard off (the default) a start does not pay for it (bench/README.md, start-up).
 */
@Injectable()
export class DashboardRegistrar implements OnModuleInit {
  private readonly logger = new Logger('Dashboard');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly config: AppConfig,
    @InjectQueue(QUEUE_NAME) private readonly queue: Queue,
  ) {}

  async onModuleInit(): Promise<void> {
    const user = this.config.get('DASHBOARD_USER');
    const password = this.config.get('DASHBOARD_PASSWORD');
    if (user === undefined || password === undefined) return;
    const readOnly = this.config.get('DASHBOARD_READ_ONLY');
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    const { DASHBOARD_PATH, registerDashboard } = await import('./dashboard');
    registerDashboard(fastify, [this.queue], { credentials: { user, password }, readOnly });
    this.logger.log(`Queue dashboard at ${DASHBOARD_PATH} (HTTP Basic, ${readOnly ? 'read-only' : 'writable'})`);
  }
}

@Module({ imports: [QueueModule], providers: [DashboardRegistrar] })
export class DashboardModule {}
