import { Controller, Get } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { startFastifyTestApp } from '../../test/support/fastify-test-app';
import { ThrottlerException } from '@nestjs/throttler';
import { HttpExceptionFilter, isClientAbort } from './http-exception.filter';

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

describe('isClientAbort', () => {
  const aborted = (): Error => Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
  const request = (destroyed: boolean) => ({ raw: { destroyed } }) as unknown as FastifyRequest;

  it("should recognise Node's error for a request whose client went away mid-body", () => {
    expect(isClientAbort(aborted(), request(true))).toBe(true);
  });

  it.each<[string, unknown, FastifyRequest | undefined]>([
    ['the same error on a request still open', aborted(), request(false)],
    ['another ECONNRESET (Redis, an outgoing call)', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), request(true)],
    ['a message "aborted" without the code', new Error('aborted'), request(true)],
    ['a string', 'aborted', request(true)],
    ['no request', aborted(), undefined],
  ])('should not take %s for one', (_, exception, req) => {
    expect(isClientAbort(exception, req)).toBe(false);
  });
});
