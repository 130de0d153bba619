import { Global, Module } from '@nestjs/common';
import { QueueModule } from '../../jobs/queue.module';
import { HttpMetrics } from './http.metrics';
import { JobMetrics } from './job.metrics';
import { MetricsController } from './metrics.controller';
import { createMetricsRegistry, METRICS_REGISTRY } from './metrics.registry';
import { QueueMetrics, RedisMemory } from './queue.metrics';
import { AppConfig } from '../../config/app-config';

/** Global, so the producer and the worker count jobs without importing it. */
@Global()
@Module({
  imports: [QueueModule],
  controllers: [MetricsController],
  providers: [
    {
      provide: METRICS_REGISTRY,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => createMetricsRegistry(config.get('METRICS_ENABLED')),
    },
    JobMetrics,
    HttpMetrics,
    RedisMemory,
    QueueMetrics,
  ],
  // The registry too, for the metrics other modules own (readiness).
  exports: [JobMetrics, HttpMetrics, METRICS_REGISTRY],
})
export class MetricsModule {}
