import { Module } from '@nestjs/common';
import { ConditionalModule, ConfigModule } from '@nestjs/config';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { AuthModule } from './auth/auth.module';
import { type AppRole, validateEnv } from './config/env.validation';
import { DashboardModule } from './dashboard/dashboard.module';
import { HealthModule } from './health/health.module';
import { BodyValidationPipe } from './http/body-validation.pipe';
import { HttpExceptionFilter } from './http/http-exception.filter';
import { RateLimitGuard, rateLimitOptions } from './http/rate-limit.guard';
import { JobsApiModule } from './jobs/api/jobs-api.module';
import { QueueModule } from './jobs/queue.module';
import { JobsWorkerModule } from './jobs/worker/jobs-worker.module';
import { LoggingModule } from './observability/logging/logging.module';
import { MetricsModule } from './observability/metrics/metrics.module';
import { RedisModule } from './redis/redis.module';
import { AppConfig, AppConfigModule } from './config/app-config';

// The role switch. ConditionalModule reads the environment after ConfigModule has validated it.
const role = (env: NodeJS.ProcessEnv): AppRole => (env.APP_ROLE as AppRole | undefined) ?? 'all';

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true, cache: true, validate: validateEnv }),
    AppConfigModule,
    LoggingModule,
    MetricsModule,
    ThrottlerModule.forRootAsync({ inject: [AppConfig], useFactory: rateLimitOptions }),
    RedisModule,
    AuthModule,
    QueueModule,
    // APP_ROLE=worker: no job API (its routes answer 404); APP_ROLE=api: no worker.
    ConditionalModule.registerWhen(JobsApiModule, (env) => role(env) !== 'worker'),
    ConditionalModule.registerWhen(JobsWorkerModule, (env) => role(env) !== 'api'),
    HealthModule,
    DashboardModule,
  ],
  providers: [
    // Global guards run in the order Nest registers them, and it registers this module's providers before
    // those of its imports: the rate limit comes before AuthModule's JwtAuthGuard, so a flood of requests
    // is refused before any token is verified (test/resilience/abuse.system-spec.ts checks the order).
    { provide: APP_GUARD, useClass: RateLimitGuard },
    { provide: APP_PIPE, useClass: BodyValidationPipe },
    { provide: APP_FILTER, useClass: HttpExceptionFilter },
  ],
})
export class AppModule {}
