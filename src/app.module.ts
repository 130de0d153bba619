import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { AuthModule } from './auth/auth.module';
import { HttpExceptionFilter } from './common/http-exception.filter';
import { BodyValidationPipe } from './common/body-validation.pipe';
import { validateEnv } from './config/env.validation';
import { HealthModule } from './health/health.module';
import { JobQueueModule } from './job-queue/job-queue.module';
import { RedisModule } from './redis/redis.module';

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true, cache: true, validate: validateEnv }),
    RedisModule,
    AuthModule,
    JobQueueModule,
    HealthModule,
  ],
  providers: [
    { provide: APP_PIPE, useClass: BodyValidationPipe },
    { provide: APP_FILTER, useClass: HttpExceptionFilter },
  ],
})
export class AppModule {}
