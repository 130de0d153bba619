import { Module } from '@nestjs/common';
import { LoggerModule, Params } from 'nestjs-pino';
import type { Logger } from 'pino';
import { createRootLogger, logDestination } from './logger.factory';
import { AppConfig } from '../../config/app-config';
import { traceFields, tracingEnabled } from '../tracing/tracing';

/**
 * The root pino logger: application logs and the access log (logResponses in createApp) both use it;
 * createApp sets it to silent for createApp({ logger: false }). nestjs-pino keeps the first root logger
 * it is given for the whole process, so apps booted later in the same process (tests) share it.
 */
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

/**
 * nestjs-pino makes the root logger Nest's logger (app.useLogger in createApp) and PinoLogger injectable.
 * Its pino-http middleware is applied to no route: the access log is a Fastify hook instead (see
 * logResponses for why), so application logs carry no reqId; the access line of the request has it.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      providers: [
        {
          provide: ROOT_LOGGER,
          inject: [AppConfig],
          // With tracing on, a line written while serving a request or running a job names its trace_id and span_id.
          useFactory: (config: AppConfig) =>
            createRootLogger(
              config.get('LOG_LEVEL'),
              logDestination(config.get('APP_ENV')),
              tracingEnabled() ? traceFields : undefined,
            ),
        },
      ],
      inject: [ROOT_LOGGER],
      useFactory: (logger: Logger): Params => ({ pinoHttp: { logger }, forRoutes: [] }),
    }),
  ],
})
export class LoggingModule {}
