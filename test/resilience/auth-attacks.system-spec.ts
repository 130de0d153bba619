// Attacks on bearer authentication (RFC 8725, RFC 6750) against the built server: each gets the documented
// status and challenge, and stores nothing.
import type { Queue } from 'bullmq';
import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { storedJobs } from '../support/queue';
import { ServerProcess } from '../support/server-process';
import { Service, startService } from '../support/service';
import { TEST_ISSUER, TEST_SECRET, token } from '../support/tokens';

jest.setTimeout(60_000);

const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

/** A JWT assembled by hand, so the header and signature can be anything an attacker likes. */
function forge(header: object, payload: object, secret: string | null = TEST_SECRET, alg = 'sha256'): string {
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = secret === null ? '' : createHmac(alg, secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (extra: object = {}) => ({
  iss: TEST_ISSUER,
  sub: 'attacker',
  type: 'private',
  scope: ['read', 'write'],
  version: 'v2',
  env: 'test',
  iat: now(),
  exp: now() + 3600,
  ...extra,
});

const REALM = 'Bearer realm="dm-jobqueue"';
const INVALID = `${REALM}, error="invalid_token"`;

describe('authentication attacks', () => {
  let service: Service;
  let server: ServerProcess;
  let queue: Queue;
  let stored: number;

  beforeAll(async () => {
    service = await startService();
    ({ server, queue } = service);
    stored = await storedJobs(queue);
  });

  afterAll(async () => {
    await service?.close();
  });

  afterEach(async () => {
    expect(await storedJobs(queue)).toBe(stored); // no attack stores a job
  });

  const valid = token();
  const [validHeader, validPayload] = valid.split('.');
  const tamperedPayload = b64url(
    JSON.stringify({ ...JSON.parse(Buffer.from(validPayload, 'base64url').toString()), sub: 'admin' }),
  );

  it.each<[string, string | undefined, string, string]>([
    ['no header', undefined, 'Authorization header is required', REALM],
    ['the Basic scheme', 'Basic dXNlcjpwYXNz', 'Invalid authorization header format', REALM],
    ['another scheme', `Token ${valid}`, 'Invalid authorization header format', REALM],
    ['an empty bearer', 'Bearer', 'Invalid authorization header format', INVALID],
    ['a bearer with two values', `Bearer ${valid} ${valid}`, 'Invalid authorization header format', INVALID],
    ['a bearer with forbidden characters', 'Bearer <script>', 'Invalid authorization header format', INVALID],
    ['one segment', 'Bearer abc', 'Invalid token', INVALID],
    ['two segments', 'Bearer abc.def', 'Invalid token', INVALID],
    ['garbage segments', 'Bearer abc.def.ghi', 'Invalid token', INVALID],
    [
      'another secret',
      `Bearer ${token({ secret: 'another-secret-of-at-least-32-bytes!!' })}`,
      'Invalid token',
      INVALID,
    ],
    ['a tampered payload', `Bearer ${validHeader}.${tamperedPayload}.${valid.split('.')[2]}`, 'Invalid token', INVALID],
    ['no signature', `Bearer ${validHeader}.${validPayload}.`, 'Invalid token', INVALID],
    ...['none', 'None', 'NONE', 'nOnE'].map((alg): [string, string, string, string] => [
      `alg "${alg}"`,
      `Bearer ${forge({ alg, typ: 'JWT' }, claims(), null)}`,
      'Invalid token',
      INVALID,
    ]),
    ['alg none with a signature', `Bearer ${forge({ alg: 'none', typ: 'JWT' }, claims())}`, 'Invalid token', INVALID],
    [
      'HS384 with the right secret',
      `Bearer ${forge({ alg: 'HS384', typ: 'JWT' }, claims(), TEST_SECRET, 'sha384')}`,
      'Invalid token',
      INVALID,
    ],
    [
      'HS512 with the right secret',
      `Bearer ${forge({ alg: 'HS512', typ: 'JWT' }, claims(), TEST_SECRET, 'sha512')}`,
      'Invalid token',
      INVALID,
    ],
    [
      'RS256 signed with the secret (key confusion)',
      `Bearer ${forge({ alg: 'RS256', typ: 'JWT' }, claims())}`,
      'Invalid token',
      INVALID,
    ],
    [
      'a wrong issuer',
      `Bearer ${forge({ alg: 'HS256', typ: 'JWT' }, claims({ iss: 'someone-else' }))}`,
      'Invalid token',
      INVALID,
    ],
    [
      'no issuer',
      `Bearer ${forge({ alg: 'HS256', typ: 'JWT' }, claims({ iss: undefined }))}`,
      'Invalid token',
      INVALID,
    ],
    [
      'an expired token',
      `Bearer ${forge({ alg: 'HS256', typ: 'JWT' }, claims({ exp: now() - 60 }))}`,
      'Invalid token',
      INVALID,
    ],
    [
      'a token not valid yet',
      `Bearer ${forge({ alg: 'HS256', typ: 'JWT' }, claims({ nbf: now() + 120 }))}`,
      'Invalid token',
      INVALID,
    ],
    ['a revoked version', `Bearer ${token({ version: 'v1' })}`, 'Invalid token', INVALID],
    ...['V1', ' v1', 'v1 '].map((version): [string, string, string, string] => [
      `the revoked version as ${JSON.stringify(version)}`,
      `Bearer ${forge({ alg: 'HS256', typ: 'JWT' }, claims({ version }))}`,
      'Invalid token',
      INVALID,
    ]),
    [
      'a crit header naming an unknown extension (RFC 7515 4.1.11)',
      `Bearer ${forge({ alg: 'HS256', typ: 'JWT', crit: ['exp-ext'], 'exp-ext': true }, claims())}`,
      'Invalid token',
      INVALID,
    ],
    [
      'an empty crit header',
      `Bearer ${forge({ alg: 'HS256', typ: 'JWT', crit: [] }, claims())}`,
      'Invalid token',
      INVALID,
    ],
    [
      'an iat that is not a number',
      `Bearer ${forge({ alg: 'HS256', typ: 'JWT' }, claims({ iat: 'yesterday' }))}`,
      'Invalid token',
      INVALID,
    ],
    ['another environment', `Bearer ${token({ env: 'production' })}`, 'Invalid token', INVALID],
    [
      'no subject',
      `Bearer ${forge({ alg: 'HS256', typ: 'JWT' }, claims({ sub: undefined }))}`,
      'Invalid token',
      INVALID,
    ],
    ['an 8 KiB bogus token', `Bearer ${'a'.repeat(8_000)}.${'b'.repeat(100)}.c`, 'Invalid token', INVALID],
  ])('should refuse %s with 401', async (_, authorization, message, challenge) => {
    const response = await server.register({ delay_seconds: 60 }, authorization === undefined ? {} : { authorization });

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(challenge);
    expect(await response.json()).toEqual({ statusCode: 401, message, error: 'Unauthorized' });
  });

  it.each([
    ['a read-only token', token({ scope: ['read'] })],
    ['a token with no scope', token({ scope: [] })],
  ])('should refuse %s with 403 Insufficient scope', async (_, value) => {
    const response = await server.register({ delay_seconds: 60 }, { authorization: `Bearer ${value}` });

    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toBe(`${REALM}, error="insufficient_scope", scope="write"`);
    expect(await response.json()).toEqual({ statusCode: 403, message: 'Insufficient scope', error: 'Forbidden' });
  });

  it('should ignore a token in the query string', async () => {
    const response = await server.fetch(`/api/dm-jobqueue/register?access_token=${valid}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });

    expect(response.status).toBe(401);
    expect((await response.json()).message).toBe('Authorization header is required');
  });

  it('should ignore a token in the body', async () => {
    const response = await server.register({ access_token: valid }, {});

    expect(response.status).toBe(401);
    expect((await response.json()).message).toBe('Authorization header is required');
  });

  it('should refuse an oversized header with 431 before reading the request', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/api/dm-jobqueue/register`, {
        method: 'POST',
        headers: { authorization: `Bearer ${'a'.repeat(20_000)}`, 'content-type': 'application/json' },
      });
      req.on('response', (response) => resolve(response.statusCode ?? 0));
      req.on('error', reject);
      req.end('{}');
    });

    expect(status).toBe(431);
  });

  it('should accept a hand-made token with the same header and claims minus the refused parts', async () => {
    // The sentinel of the crit, iat and version refusals above: the same forging code, accepted when they are absent.
    const response = await server.register(
      { delay_seconds: 60 },
      { authorization: `Bearer ${forge({ alg: 'HS256', typ: 'JWT' }, claims())}` },
    );

    expect(response.status).toBe(201);
    stored += 1;
  });

  it('should accept the same request with a valid token (the refusals above are not a broken server)', async () => {
    const response = await server.register({ delay_seconds: 60 }, { authorization: `Bearer ${valid}` });

    expect(response.status).toBe(201);
    stored += 1;
  });
});
