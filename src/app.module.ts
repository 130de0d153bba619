import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { AuthModule } from './auth/auth.module';
import { HttpExceptionFilter } from './common/http-exception.filter';
import { BodyValidationPipe } from './common/body-validation.pipe';
import { validateEnv } from './config/env.validation';
import { DashboardModule } from './dashboard/dashboard.module';
import { HealthModule } from './health/health.module';
import { jobApiForRole, jobWorkerForRole } from './job-queue/app-role';
import { JobQueueModule } from './job-queue/job-queue.module';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { RedisModule } from './redis/redis.module';
import { RateLimitGuard, rateLimitOptions } from './security/rate-limit.guard';

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true, cache: true, validate: validateEnv }),
    LoggingModule,
    MetricsModule,
    ThrottlerModule.forRootAsync({ inject: [ConfigService], useFactory: rateLimitOptions }),
    RedisModule,
    AuthModule,
    JobQueueModule,
    jobApiForRole(),
    jobWorkerForRole(),
    HealthModule,
    DashboardModule,
  ],
  providers: [
    // Global guards run in the order Nest registers them, and it registers this module's providers before
    // those of its imports: the rate limit comes before AuthModule's JwtAuthGuard, so a flood of requests
    // is refused before any token is verified (test/resilience/abuse.e2e-spec.ts checks the order).
    { provide: APP_GUARD, useClass: RateLimitGuard },
    { provide: APP_PIPE, useClass: BodyValidationPipe },
    { provide: APP_FILTER, useClass: HttpExceptionFilter },
  ],
})
export class AppModule {}
