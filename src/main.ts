// First: tracing, when on, must patch node:http before Fastify loads it.
import { tracing } from './observability/tracing/start';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { ConfigValidationError } from './config/env.validation';
import { AppConfig } from './config/app-config';
import { withTimeout } from './common/timeout';

/** A reason start-up cannot go on that one line explains (like a configuration mistake). */
class StartupError extends Error {}

/** The longest the spans not yet exported may hold up the exit once the application has closed. */
const TRACE_FLUSH_TIMEOUT_MS = 1_000;

/** The same signal again within this long is the same request to stop, not a second one. */
const REPEATED_SIGNAL_MS = 1_000;

async function bootstrap(): Promise<void> {
  const app = await createApp();
  const config = app.get(AppConfig);
  const logger = new Logger('Bootstrap');
  const shutdownTimeout = config.get('SHUTDOWN_TIMEOUT_MS');

  // Not app.enableShutdownHooks(): Nest re-raises the signal after closing, so the process would end
  // with 143 instead of 0. app.close() runs the same hooks, in this order (docs/ARCHITECTURE.md#shutdown):
  //   ReadinessState.onModuleDestroy              readiness answers 503, responses close their connections
  //   JobProcessor.beforeApplicationShutdown      the worker lets its jobs finish, within SHUTDOWN_TIMEOUT_MS
  //   the HTTP server closes                      requests in flight are answered
  //   RedisModule.onApplicationShutdown           the producer connection closes last
  let stopping: { signal: NodeJS.Signals; at: number } | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // Ctrl+C under npm arrives twice at once (from the terminal, and forwarded by npm): one request to stop.
      if (signal === stopping.signal && performance.now() - stopping.at < REPEATED_SIGNAL_MS) return;
      logger.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = { signal, at: performance.now() };
    logger.log(`${signal} received: shutting down`);
    // Last resort if a hook hangs despite its own bounds.
    setTimeout(() => {
      logger.error(`Shutdown took longer than ${shutdownTimeout} ms: exiting`);
      process.exit(1);
    }, shutdownTimeout + 2_000).unref();
    app
      .close()
      .then(() => flushTraces(logger))
      .then(
        () => {
          logger.log('Shutdown complete');
          process.exit(0);
        },
        (error: Error) => {
          logger.error(`Shutdown failed: ${error.stack ?? error.message}`);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  const port = config.get('PORT');
  const host = config.get('HOST');
  try {
    await app.listen(port, host);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    throw new StartupError(`Port ${port} on ${host} is already in use (PORT): is another instance still running?`);
  }
  logger.log(`Listening on http://${host}:${port} (APP_ENV=${config.get('APP_ENV')}, pid ${process.pid})`);
}

/** The spans of the last requests and jobs go out before the process ends (the exporter sends in batches). */
async function flushTraces(logger: Logger): Promise<void> {
  if (!tracing) return;
  try {
    await withTimeout(tracing.shutdown(), TRACE_FLUSH_TIMEOUT_MS, 'exporting the last spans');
  } catch (error) {
    logger.warn(`Tracing: ${(error as Error).message}`);
  }
}

bootstrap().catch((error: unknown) => {
  // One line for a configuration mistake; the full story for anything else.
  if (error instanceof ConfigValidationError || error instanceof StartupError) {
    console.error(error.message);
  } else {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  }
  process.exit(1);
});
