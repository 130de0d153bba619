// Boots the real AppModule in this process (same factory as main.ts) against the given environment.
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { TEST_ISSUER, TEST_SECRET } from './tokens';
import { eventually } from './wait';

export interface TestApp {
  app: NestFastifyApplication;
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
  /** Polls GET /health/ready until it answers 200. */
  untilReady(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function testEnv(redisUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    APP_ENV: 'test',
    JWT_SECRET: TEST_SECRET,
    JWT_ISSUER: TEST_ISSUER,
    REDIS_URL: redisUrl,
    SHUTDOWN_TIMEOUT_MS: '3000',
    ...extra,
  };
}

/**
 * ConfigModule validates the environment when app.module is first imported, so a spec file boots one
 * configuration: the environment is set before the (lazy) import. The Redis connections open in the
 * background, so by default this waits until the service reports ready.
 */
export async function startApp(env: Record<string, string>, waitUntilReady = true): Promise<TestApp> {
  Object.assign(process.env, env);
  const { createApp } = await import('../../src/app.factory');
  const app = await createApp({ logger: false });
  await app.init();
  const fastify = app.getHttpAdapter().getInstance();
  await fastify.ready();
  const testApp: TestApp = {
    app,
    inject: (options) => fastify.inject(options),
    untilReady: async (timeoutMs = 10_000) => {
      await eventually(
        async () =>
          (await fastify.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200 ? true : undefined,
        timeoutMs,
        `the app to become ready within ${timeoutMs} ms`,
      );
    },
    close: () => app.close(),
  };
  if (waitUntilReady) await testApp.untilReady();
  return testApp;
}
