import { Controller, Get } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startFastifyTestApp } from '../../test/support/fastify-test-app';
import { ThrottlerException } from '@nestjs/throttler';
import { HttpExceptionFilter } from './http-exception.filter';

const REDIS_URL = 'redis://:s3cret-password@redis.internal.example:6379/0';

@Controller('fail')
class FailingController {
  @Get('error')
  error(): never {
    throw new Error(`connect ECONNREFUSED ${REDIS_URL}`);
  }

  @Get('type-error')
  typeError(): never {
    return (undefined as unknown as { x: () => never }).x();
  }

  @Get('string')
  string(): never {
    throw `${REDIS_URL} refused`;
  }

  @Get('throttled')
  throttled(): never {
    throw new ThrottlerException('Too many requests');
  }
}

describe('HttpExceptionFilter', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await startFastifyTestApp({
      controllers: [FailingController],
      providers: [{ provide: APP_FILTER, useClass: HttpExceptionFilter }],
    });
  });

  afterAll(async () => {
    await app?.close();
  });

  const get = (url: string) => app.getHttpAdapter().getInstance().inject({ method: 'GET', url });

  it.each(['/fail/error', '/fail/type-error', '/fail/string'])(
    'should answer an unexpected failure (%s) with a bare 500 and no internals',
    async (url) => {
      const response = await get(url);

      expect(response.statusCode).toBe(500);
      expect(response.json()).toEqual({ statusCode: 500, message: 'Internal server error', error: 'Internal Server Error' });
      expect(response.body).not.toMatch(/redis:\/\/|s3cret|redis\.internal|\n\s+at |\.ts:\d+/);
    },
  );

  it("should give throttler's refusal the standard error shape", async () => {
    const response = await get('/fail/throttled');

    expect(response.statusCode).toBe(429);
    expect(response.json()).toEqual({ statusCode: 429, message: 'Too many requests', error: 'Too Many Requests' });
  });
});
