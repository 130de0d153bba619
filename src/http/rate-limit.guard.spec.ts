import { Controller, Get, Post } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startFastifyTestApp } from '../../test/support/fastify-test-app';
import { SkipThrottle, ThrottlerModule } from '@nestjs/throttler';
import { Public } from '../auth/auth.decorators';
import { AuthModule } from '../auth/auth.module';
import { signToken } from '../auth/token';
import { HttpExceptionFilter } from './http-exception.filter';
import { validateEnv } from '../config/env.validation';
import { RateLimitGuard, rateLimitOptions } from './rate-limit.guard';
import { AppConfig, AppConfigModule } from '../config/app-config';

const SECRET = 'rate-limit-guard-spec-secret-of-more-than-32-bytes';
const TOO_MANY = { statusCode: 429, message: 'Too many requests', error: 'Too Many Requests' };

@Controller('t')
class LimitedController {
  @Public()
  @Get('open')
  open(): { ok: true } {
    return { ok: true };
  }

  @Post('write')
  write(): { written: true } {
    return { written: true };
  }
}

@SkipThrottle()
@Public()
@Controller('probe')
class ExemptController {
  @Get()
  probe(): { ok: true } {
    return { ok: true };
  }
}

const token = (subject: string): string =>
  `Bearer ${signToken({ secret: SECRET, issuer: 'go-webdb-template', subject, env: 'test', expiresIn: 60 })}`;

/** The same wiring as AppModule: the rate-limit APP_GUARD in the root module, AuthModule's guard imported. */
async function startApp(limit: number): Promise<NestFastifyApplication> {
  return startFastifyTestApp({
    imports: [
      ConfigModule.forRoot({
        isGlobal: true,
        ignoreEnvFile: true,
        validate: () => validateEnv({ APP_ENV: 'test', JWT_SECRET: SECRET, RATE_LIMIT_PER_MINUTE: String(limit) }),
      }),
      AppConfigModule,
      ThrottlerModule.forRootAsync({ inject: [AppConfig], useFactory: rateLimitOptions }),
      AuthModule,
    ],
    controllers: [LimitedController, ExemptController],
    providers: [
      { provide: APP_GUARD, useClass: RateLimitGuard },
      { provide: APP_FILTER, useClass: HttpExceptionFilter },
    ],
  });
}

describe('RateLimitGuard', () => {
  describe('with a limit of 3 a minute', () => {
    let app: NestFastifyApplication;

    beforeEach(async () => {
      app = await startApp(3);
    });

    afterEach(async () => {
      await app?.close();
    });

    const request = (method: 'GET' | 'POST', url: string, authorization?: string, remoteAddress = '10.0.0.1') =>
      app
        .getHttpAdapter()
        .getInstance()
        .inject({ method, url, remoteAddress, headers: authorization === undefined ? {} : { authorization } });

    it('should let 3 requests through with X-RateLimit headers, then answer 429 with Retry-After', async () => {
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await request('GET', '/t/open'));

      expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 429]);
      expect(answers.map((a) => a.headers['x-ratelimit-limit'])).toEqual(['3', '3', '3', '3']);
      expect(answers.map((a) => a.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0', '0']);
      expect(answers.map((a) => a.headers['x-ratelimit-reset'])).toEqual(['60', '60', '60', '60']);
      expect(answers[3].json()).toEqual(TOO_MANY);
      expect(answers[3].headers['retry-after']).toBe('60');
      expect(answers[0].headers['retry-after']).toBeUndefined();
    });

    it('should run before the JWT guard, so the 4th request with a bad token is a 429, not a 401', async () => {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await request('POST', '/t/write', 'Bearer not.a.jwt')).statusCode);

      expect(statuses).toEqual([401, 401, 401, 429]);
    });

    it('should count across routes, per client, a new token counting against its address until it is verified', async () => {
      const alice = token('alice');
      await request('POST', '/t/write', alice); // not verified yet: the address's count
      await request('POST', '/t/write', alice);
      await request('GET', '/t/open', alice);
      await request('POST', '/t/write', alice);

      expect((await request('GET', '/t/open', alice)).statusCode).toBe(429);
      expect((await request('POST', '/t/write', token('bob'), '10.0.0.2')).statusCode).toBe(201);
    });

    it('should count a verified token wherever it comes from, and addresses without a token apart', async () => {
      const alice = token('alice');
      await request('POST', '/t/write', alice, '10.0.0.5');
      for (let i = 0; i < 3; i++) await request('GET', '/t/open', alice, `10.0.0.${i + 10}`);

      expect((await request('GET', '/t/open', alice, '10.0.0.99')).statusCode).toBe(429);
      expect((await request('GET', '/t/open', undefined, '10.0.0.99')).statusCode).toBe(200);
    });

    it('should count made-up tokens against their address: a new one per request still meets the limit', async () => {
      const statuses = [];
      for (let i = 0; i < 4; i++)
        statuses.push((await request('POST', '/t/write', `Bearer made.up.${i}`, '10.0.0.7')).statusCode);

      expect(statuses).toEqual([401, 401, 401, 429]);
    });

    it('should let a verified token through from an address whose own count is used up', async () => {
      const carol = token('carol');
      expect((await request('POST', '/t/write', carol, '10.0.0.8')).statusCode).toBe(201);
      for (let i = 0; i < 3; i++) await request('POST', '/t/write', `Bearer made.up.${i}`, '10.0.0.9');
      expect((await request('POST', '/t/write', 'Bearer made.up.x', '10.0.0.9')).statusCode).toBe(429);

      expect((await request('POST', '/t/write', carol, '10.0.0.9')).statusCode).toBe(201);
    });

    it('should never limit a controller marked @SkipThrottle()', async () => {
      const answers = [];
      for (let i = 0; i < 10; i++) answers.push(await request('GET', '/probe'));

      expect(answers.map((a) => a.statusCode)).toEqual(Array(10).fill(200));
      expect(answers.some((a) => 'x-ratelimit-limit' in a.headers)).toBe(false);
    });
  });

  describe('with RATE_LIMIT_PER_MINUTE=0', () => {
    let app: NestFastifyApplication;

    beforeAll(async () => {
      app = await startApp(0);
    });

    afterAll(async () => {
      await app?.close();
    });

    it('should never limit and send no X-RateLimit headers', async () => {
      const answers = [];
      for (let i = 0; i < 20; i++)
        answers.push(await app.getHttpAdapter().getInstance().inject({ method: 'GET', url: '/t/open' }));

      expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(200));
      expect(answers.some((a) => Object.keys(a.headers).some((name) => name.startsWith('x-ratelimit')))).toBe(false);
    });
  });
});
