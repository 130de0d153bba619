import { BadRequestException, Controller, Get, HttpException, NotFoundException } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { startFastifyTestApp } from '../../test/support/fastify-test-app';
import { ThrottlerException } from '@nestjs/throttler';
import { clientErrorStatus, errorBody, HttpExceptionFilter, isClientAbort } from './http-exception.filter';

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
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- what a library may throw: not an Error
    throw `${REDIS_URL} refused`;
  }

  @Get('throttled')
  throttled(): never {
    throw new ThrottlerException('Too many requests');
  }

  @Get('forbidden-path')
  forbiddenPath(): never {
    // What @fastify/static raises for a path that climbs out of its root.
    throw Object.assign(new Error('Forbidden path /srv/app/package.json'), { statusCode: 403 });
  }

  @Get('server-status')
  serverStatus(): never {
    throw Object.assign(new Error(`upstream ${REDIS_URL}`), { statusCode: 502 });
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
      expect(response.json()).toEqual({
        statusCode: 500,
        message: 'Internal server error',
        error: 'Internal Server Error',
      });
      expect(response.body).not.toMatch(/redis:\/\/|s3cret|redis\.internal|\n\s+at |\.ts:\d+/);
    },
  );

  it("should give throttler's refusal the standard error shape", async () => {
    const response = await get('/fail/throttled');

    expect(response.statusCode).toBe(429);
    expect(response.json()).toEqual({ statusCode: 429, message: 'Too many requests', error: 'Too Many Requests' });
  });

  it("should answer a library's client error (a statusCode of 4xx) with that status in the standard shape, naming no path", async () => {
    const response = await get('/fail/forbidden-path');

    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ statusCode: 403, message: 'Forbidden', error: 'Forbidden' });
  });

  it('should still answer an error carrying a 5xx statusCode with a bare 500', async () => {
    const response = await get('/fail/server-status');

    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({
      statusCode: 500,
      message: 'Internal server error',
      error: 'Internal Server Error',
    });
    expect(response.body).not.toContain('s3cret');
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
    [
      'another ECONNRESET (Redis, an outgoing call)',
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      request(true),
    ],
    ['a message "aborted" without the code', new Error('aborted'), request(true)],
    ['a string', 'aborted', request(true)],
    ['no request', aborted(), undefined],
  ])('should not take %s for one', (_, exception, req) => {
    expect(isClientAbort(exception, req)).toBe(false);
  });
});

describe('clientErrorStatus', () => {
  it.each([
    ['an Error with statusCode 400', Object.assign(new Error('bad'), { statusCode: 400 }), 400],
    ['an Error with statusCode 499', Object.assign(new Error('x'), { statusCode: 499 }), 499],
    ['an Error with statusCode 500', Object.assign(new Error('x'), { statusCode: 500 }), undefined],
    ['an Error with a string statusCode', Object.assign(new Error('x'), { statusCode: '404' }), undefined],
    ['a plain Error', new Error('x'), undefined],
    ['a non-Error with statusCode 400', { statusCode: 400, message: 'x' }, undefined],
  ])('should read %s as %s', (_what, exception, expected) => {
    expect(clientErrorStatus(exception)).toBe(expected);
  });
});

describe('errorBody', () => {
  it.each([
    ['a string response', new HttpException('Too many requests', 429)],
    ["Nest's BadRequestException", new BadRequestException(['a must be an integer'])],
    ["Nest's NotFoundException", new NotFoundException('Job not found')],
  ])('should put the keys of %s in one order: statusCode, message, error', (_what, exception) => {
    expect(Object.keys(errorBody(exception))).toEqual(['statusCode', 'message', 'error']);
  });

  it("should keep a body that is not an error's (terminus's health report) as it is", () => {
    const report = { status: 'error', info: {}, error: { redis: { status: 'down' } }, details: {} };
    expect(errorBody(new HttpException(report, 503))).toBe(report);
  });
});
