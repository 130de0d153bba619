import { Controller, Get, Post } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { AppConfigModule } from '../config/app-config';
import { APP_FILTER } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startFastifyTestApp } from '../../test/support/fastify-test-app';
import { eventually } from '../../test/support/wait';
import { sign, type SignOptions } from 'jsonwebtoken';
import { HttpExceptionFilter } from '../http/http-exception.filter';
import { validateEnv } from '../config/env.validation';
import { Public, RequireScope } from './auth.decorators';
import { Strategy } from 'passport-jwt';
import { AuthModule } from './auth.module';
import { JwtStrategy } from './jwt.strategy';
import { hmacKey, signToken, type Scope } from './token';

const SECRET = 'jwt-auth-guard-spec-secret-of-more-than-32-bytes';
const ISSUER = 'go-webdb-template';
const REALM = 'Bearer realm="dm-jobqueue"';
const INVALID_TOKEN = 'Bearer realm="dm-jobqueue", error="invalid_token"';

@Controller('t')
class TestController {
  @Public()
  @Get('public')
  open(): { ok: true } {
    return { ok: true };
  }

  @Get('any')
  any(): { ok: true } {
    return { ok: true };
  }

  @RequireScope('write')
  @Post('write')
  write(): { written: true } {
    return { written: true };
  }
}

const now = (): number => Math.floor(Date.now() / 1000);

const token = (scope: Scope[] = ['read', 'write']): string =>
  signToken({ secret: SECRET, issuer: ISSUER, subject: 'client-1', scope, env: 'test', version: 'v2', expiresIn: 60 });

/** A token signed by hand, for claims and algorithms signToken does not produce. */
function rawToken(payload: Record<string, unknown>, options: SignOptions = {}, secret = SECRET): string {
  return sign(
    { iss: ISSUER, sub: 'client-1', type: 'private', scope: ['read', 'write'], version: 'v2', env: 'test', ...payload },
    hmacKey(secret),
    { algorithm: 'HS256', ...options },
  );
}

const base64url = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Changes one character in the middle of the signature (the last one may carry only padding bits). */
function alterSignature(jwt: string): string {
  const at = jwt.lastIndexOf('.') + 10;
  return `${jwt.slice(0, at)}${jwt[at] === 'A' ? 'B' : 'A'}${jwt.slice(at + 1)}`;
}

describe('JwtAuthGuard', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await startFastifyTestApp({
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          // An explicit environment, so the caller's variables cannot change the outcome.
          validate: () =>
            validateEnv({ APP_ENV: 'test', JWT_SECRET: SECRET, JWT_ISSUER: ISSUER, JWT_REVOKED_VERSIONS: 'v1' }),
        }),
        AppConfigModule,
        AuthModule,
      ],
      controllers: [TestController],
      providers: [{ provide: APP_FILTER, useClass: HttpExceptionFilter }],
    });
  });

  afterAll(async () => {
    await app?.close();
  });

  const request = (url: string, authorization?: string, method: 'GET' | 'POST' = 'GET') =>
    app
      .getHttpAdapter()
      .getInstance()
      .inject({ method, url, headers: authorization === undefined ? {} : { authorization } });

  it('should answer 401 "Authorization header is required" without a header', async () => {
    const response = await request('/t/any');

    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({
      statusCode: 401,
      message: 'Authorization header is required',
      error: 'Unauthorized',
    });
    expect(response.headers['www-authenticate']).toBe(REALM);
  });

  it('should answer 401 "Invalid authorization header format" without an error code for another scheme', async () => {
    const response = await request('/t/any', 'Basic abc');

    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({
      statusCode: 401,
      message: 'Invalid authorization header format',
      error: 'Unauthorized',
    });
    expect(response.headers['www-authenticate']).toBe(REALM);
  });

  it.each(['Bearer', 'Bearer ', 'Bearer a b', 'Bearer a,b', 'bearer'])(
    'should answer 401 "Invalid authorization header format" with error="invalid_token" for %j',
    async (authorization) => {
      const response = await request('/t/any', authorization);

      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({
        statusCode: 401,
        message: 'Invalid authorization header format',
        error: 'Unauthorized',
      });
      expect(response.headers['www-authenticate']).toBe(INVALID_TOKEN);
    },
  );

  const invalid: Array<[string, () => string]> = [
    ['a token signed with another secret', () => rawToken({}, { expiresIn: 60 }, `${SECRET}-other`)],
    [
      'an alg "none" token',
      () =>
        `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ iss: ISSUER, sub: 'client-1', scope: ['read', 'write'], exp: now() + 60 })}.`,
    ],
    ['an HS512 token signed with the right secret', () => rawToken({}, { algorithm: 'HS512', expiresIn: 60 })],
    ['a token of another issuer', () => rawToken({ iss: 'someone-else' }, { expiresIn: 60 })],
    ['a token without an issuer', () => rawToken({ iss: undefined }, { expiresIn: 60 })],
    ['a token expired 31 s ago', () => rawToken({ iat: now() - 3600, exp: now() - 31 })],
    ['a token not valid for another 60 s', () => rawToken({ nbf: now() + 60, exp: now() + 3600 })],
    ['a token of the revoked version v1', () => rawToken({ version: 'v1' }, { expiresIn: 60 })],
    ['a token for APP_ENV production', () => rawToken({ env: 'production' }, { expiresIn: 60 })],
    ['a token without a subject', () => rawToken({ sub: undefined }, { expiresIn: 60 })],
    ['a token whose scope is not an array', () => rawToken({ scope: 'read write' }, { expiresIn: 60 })],
    ['a token with a crit header', () => rawToken({}, { expiresIn: 60, header: { alg: 'HS256', crit: ['b64'] } })],
    ['a token of the revoked version written V1', () => rawToken({ version: 'V1' }, { expiresIn: 60 })],
    ['a token whose signature was altered', () => alterSignature(token())],
    ['something that is not a JWT', () => 'not-a-jwt'],
  ];

  it.each(invalid)('should answer 401 "Invalid token" for %s', async (_, make) => {
    const response = await request('/t/any', `Bearer ${make()}`);

    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ statusCode: 401, message: 'Invalid token', error: 'Unauthorized' });
    expect(response.headers['www-authenticate']).toBe(INVALID_TOKEN);
  });

  it('should accept a token expired 20 s ago (30 s clock tolerance)', async () => {
    const response = await request('/t/any', `Bearer ${rawToken({ iat: now() - 3600, exp: now() - 20 })}`);

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ok: true });
  });

  it('should accept a token valid from 20 s in the future (30 s clock tolerance)', async () => {
    const response = await request('/t/any', `Bearer ${rawToken({ nbf: now() + 20, exp: now() + 3600 })}`);

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ok: true });
  });

  it('should accept a remembered token again but not the same token with its signature altered', async () => {
    const valid = rawToken({ sub: 'remembered', exp: now() + 3600 });
    expect((await request('/t/any', `Bearer ${valid}`)).statusCode).toBe(200);
    expect((await request('/t/any', `Bearer ${valid}`)).statusCode).toBe(200);

    const response = await request('/t/any', `Bearer ${alterSignature(valid)}`);

    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ statusCode: 401, message: 'Invalid token', error: 'Unauthorized' });
  });

  it('should answer a remembered token without entering passport', async () => {
    const verify = jest.spyOn(Strategy.prototype, 'authenticate');
    try {
      const valid = rawToken({ sub: 'cached', exp: now() + 3600 });
      expect((await request('/t/any', `Bearer ${valid}`)).statusCode).toBe(200);
      expect((await request('/t/any', `Bearer ${valid}`)).statusCode).toBe(200);

      expect(verify).toHaveBeenCalledTimes(1); // the first request only
    } finally {
      verify.mockRestore();
    }
  });

  it('should answer 401 "Invalid token" when the strategy fails with an error, not a 500', async () => {
    const validate = jest.spyOn(JwtStrategy.prototype, 'validate').mockImplementationOnce(() => {
      throw new Error('claims could not be read');
    });
    try {
      const response = await request('/t/any', `Bearer ${rawToken({ sub: 'erring', exp: now() + 3600 })}`);

      expect(validate).toHaveBeenCalledTimes(1);
      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({ statusCode: 401, message: 'Invalid token', error: 'Unauthorized' });
    } finally {
      validate.mockRestore();
    }
  });

  it('should refuse a remembered token once it has expired', async () => {
    const issued = now();
    // Valid until the clock reads issued + 2 s (30 s of tolerance), so accepted and remembered now.
    const expiring = rawToken({ sub: 'expiring', iat: issued - 3600, exp: issued - 28 });
    expect((await request('/t/any', `Bearer ${expiring}`)).statusCode).toBe(200);
    await eventually(() => now() >= issued + 2 || undefined, 5_000, 'the token to expire', 50);

    const response = await request('/t/any', `Bearer ${expiring}`);

    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ statusCode: 401, message: 'Invalid token', error: 'Unauthorized' });
  });

  it('should accept a token without exp, env or version', async () => {
    const response = await request('/t/any', `Bearer ${rawToken({ env: undefined, version: undefined })}`);

    expect(response.statusCode).toBe(200);
  });

  it('should answer 403 "Insufficient scope" for a read-only token on a write route', async () => {
    const response = await request('/t/write', `Bearer ${token(['read'])}`, 'POST');

    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ statusCode: 403, message: 'Insufficient scope', error: 'Forbidden' });
    expect(response.headers['www-authenticate']).toBe(
      'Bearer realm="dm-jobqueue", error="insufficient_scope", scope="write"',
    );
  });

  it('should answer 403 for a token whose scope holds only unknown items', async () => {
    const response = await request(
      '/t/write',
      `Bearer ${rawToken({ scope: ['owner', 'WRITE'] }, { expiresIn: 60 })}`,
      'POST',
    );

    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ statusCode: 403, message: 'Insufficient scope', error: 'Forbidden' });
  });

  it('should let a write token through to the write route', async () => {
    const response = await request('/t/write', `Bearer ${token(['write'])}`, 'POST');

    expect(response.statusCode).toBe(201);
    expect(response.json()).toEqual({ written: true });
  });

  it('should let a read-only token through to a route without a scope requirement', async () => {
    const response = await request('/t/any', `Bearer ${token(['read'])}`);

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ok: true });
  });

  it('should answer a public route without a header', async () => {
    const response = await request('/t/public');

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ok: true });
  });

  it('should answer a public route even with a bad header', async () => {
    const response = await request('/t/public', 'Basic abc');

    expect(response.statusCode).toBe(200);
  });

  it('should accept the scheme in lower case', async () => {
    const response = await request('/t/any', `bearer ${token()}`);

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ok: true });
  });

  it('should not take the token from the query string', async () => {
    const response = await request(`/t/any?access_token=${token()}`);

    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({
      statusCode: 401,
      message: 'Authorization header is required',
      error: 'Unauthorized',
    });
  });
});
