// Abuse (SPEC 5, 6.2): rate limiting per client, security headers, CORS closed unless configured, and error
// bodies that give nothing away, all checked on the built server (node dist/main.js) as a user runs it.
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { fetchFrom } from '../support/fetch-from';
import { freePort } from '../support/free-port';
import { RedisServer } from '../support/redis-server';
import { ServerProcess } from '../support/server-process';
import { testEnv } from '../support/app';
import { bearer, token } from '../support/tokens';

jest.setTimeout(60_000);

const REGISTER = '/api/dm-jobqueue/register';
const HEALTH = ['/health', '/health/live', '/health/ready'];
const TOO_MANY = { statusCode: 429, message: 'Too many requests', error: 'Too Many Requests' };
// A stack frame as Node prints it ("    at fn (file.js:1:2)"), and anything that names Redis's address.
const LEAKS = /\n\s+at |redis:\/\/|rediss:\/\/|\.js:\d+:\d+/;

const env = testEnv;

/** A token of its own for each client, so no two tests share a rate-limit count. */
const client = (name: string): { authorization: string } => bearer(token({ subject: name }));

/**
 * POST register from the loopback address `from`: tests that count requests each use an address of their own, since
 * a token's first request (not verified yet) counts against its address.
 */
const register = (
  server: ServerProcess,
  headers: Record<string, string>,
  body: object | string = { delay_seconds: 3600 },
  from = '127.0.0.1',
) =>
  fetchFrom(from, `${server.url}${REGISTER}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** Sends the requests one after the other (the order matters for a limit) and returns the responses. */
async function inSequence(count: number, send: (i: number) => Promise<Response>): Promise<Response[]> {
  const responses: Response[] = [];
  for (let i = 0; i < count; i++) {
    const response = await send(i);
    await response.arrayBuffer();
    responses.push(response);
  }
  return responses;
}

const rateLimitHeaders = (response: Response): string[] =>
  [...response.headers.keys()].filter((name) => name.startsWith('x-ratelimit'));

describe('abuse protection on the built server', () => {
  let redis: RedisServer;
  const servers: ServerProcess[] = [];
  const start = async (environment: Record<string, string>, waitForListening = true): Promise<ServerProcess> => {
    const server = await ServerProcess.start(environment, waitForListening);
    servers.push(server);
    return server;
  };

  beforeAll(async () => {
    redis = await RedisServer.start();
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.kill()));
    await redis?.close();
  });

  describe('with RATE_LIMIT_PER_MINUTE=5 and no CORS_ORIGINS', () => {
    let server: ServerProcess;

    beforeAll(async () => {
      server = await start(env(redis.url, { RATE_LIMIT_PER_MINUTE: '5' }));
      await server.untilReady();
    });

    it('should answer the 6th register of a verified token with 429, Retry-After and X-RateLimit headers', async () => {
      const alice = client('alice');
      const from = '127.0.0.11';

      // The first request counts against the address (the token is not verified yet), the next five against the token.
      const responses = await inSequence(7, () => register(server, alice, undefined, from));

      expect(responses.map((r) => r.status)).toEqual([201, 201, 201, 201, 201, 201, 429]);
      expect(responses.map((r) => r.headers.get('x-ratelimit-limit'))).toEqual(Array(7).fill('5'));
      expect(responses.map((r) => r.headers.get('x-ratelimit-remaining'))).toEqual(['4', '4', '3', '2', '1', '0', '0']);
      for (const response of responses) {
        const reset = Number(response.headers.get('x-ratelimit-reset'));
        expect(reset).toBeGreaterThanOrEqual(1);
        expect(reset).toBeLessThanOrEqual(60);
      }
      const refused = responses[6];
      const retryAfter = refused.headers.get('retry-after');
      expect(retryAfter).toMatch(/^\d+$/);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(retryAfter)).toBeLessThanOrEqual(60);
      expect(responses[0].headers.get('retry-after')).toBeNull();

      // The token's own count: from another address it is still limited.
      const again = await register(server, alice, undefined, '127.0.0.21');
      expect(again.status).toBe(429);
      expect(await again.json()).toEqual(TOO_MANY);
    });

    it('should still accept another token while one is limited', async () => {
      const carol = client('carol');
      await inSequence(7, () => register(server, carol, undefined, '127.0.0.12'));

      const response = await register(server, client('dave'), undefined, '127.0.0.13');

      expect(response.status).toBe(201);
      expect(response.headers.get('x-ratelimit-remaining')).toBe('4');
    });

    it('should never limit the health endpoints', async () => {
      const responses = await inSequence(45, (i) => server.fetch(HEALTH[i % HEALTH.length]));

      expect(responses.map((r) => r.status)).toEqual(Array(45).fill(200));
      expect(responses.flatMap(rateLimitHeaders)).toEqual([]);
    });

    it('should limit before authenticating: the 6th request with a bad token is a 429, not a 401', async () => {
      const forged = bearer(token({ subject: 'mallory', secret: 'another-secret-that-is-at-least-32-bytes' }));

      const responses = await inSequence(6, () => register(server, forged, undefined, '127.0.0.14'));

      expect(responses.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 429]);
      expect(responses[0].headers.get('x-ratelimit-limit')).toBe('5');
      expect(responses[0].headers.get('www-authenticate')).toBe('Bearer realm="dm-jobqueue", error="invalid_token"');
    });

    it('should count a new made-up token on every request against the address, and still let a verified token through', async () => {
      const from = '127.0.0.15';
      const verified = client('verified-elsewhere');
      expect((await register(server, verified, undefined, '127.0.0.16')).status).toBe(201);

      const responses = await inSequence(8, () =>
        register(
          server,
          bearer(token({ subject: randomUUID(), secret: 'a-made-up-secret-that-is-at-least-32-bytes' })),
          undefined,
          from,
        ),
      );

      expect(responses.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
      // A token verified before keeps its own count, from that address too.
      expect((await register(server, verified, undefined, from)).status).toBe(201);
    });

    it('should count requests without a token by address', async () => {
      const responses = await inSequence(6, () => register(server, {}, undefined, '127.0.0.17'));

      expect(responses.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 429]);
      expect(responses[5].headers.get('retry-after')).toMatch(/^\d+$/);
    });

    it("should send the API's security headers and no X-Powered-By on every kind of response", async () => {
      const responses = [
        await server.fetch('/health/live'),
        await register(server, client('erin'), undefined, '127.0.0.18'),
        await register(server, client('erin'), '{"message":', '127.0.0.18'),
        await server.fetch('/no/such/route'),
      ];

      expect(responses.map((r) => r.status)).toEqual([200, 201, 400, 404]);
      for (const response of responses) {
        expect(response.headers.get('x-content-type-options')).toBe('nosniff');
        expect(response.headers.get('x-frame-options')).toBe('DENY');
        expect(response.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
        expect(response.headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");
        expect(response.headers.get('cross-origin-resource-policy')).toBe('same-origin');
        expect(response.headers.get('x-powered-by')).toBeNull();
      }
    });

    it('should send no CORS header to any origin when CORS_ORIGINS is not set', async () => {
      const origin = { origin: 'https://evil.example' };
      const simple = await server.fetch('/health/live', { headers: origin });
      const post = await register(server, { ...client('frank'), ...origin }, undefined, '127.0.0.19');
      const preflight = await server.fetch(REGISTER, {
        method: 'OPTIONS',
        headers: {
          ...origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });

      expect([simple.status, post.status]).toEqual([200, 201]);
      expect(preflight.status).toBe(404);
      for (const response of [simple, post, preflight]) {
        expect([...response.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
      }
    });

    it('should answer client errors with the standard body and no stack trace', async () => {
      const bob = client('bob');
      const responses = [
        await register(server, bob, '{"message":', '127.0.0.20'),
        await register(server, bob, { delay_seconds: 'soon' }, '127.0.0.20'),
        await register(server, { authorization: 'Bearer not-a-jwt' }, undefined, '127.0.0.20'),
        await server.fetch('/no/such/route'),
      ];

      expect(responses.map((r) => r.status)).toEqual([400, 400, 401, 404]);
      for (const response of responses) {
        const text = await response.text();
        expect(JSON.parse(text)).toEqual({
          statusCode: response.status,
          message: expect.anything(),
          error: expect.any(String),
        });
        expect(Object.keys(JSON.parse(text))).toEqual(['statusCode', 'message', 'error']);
        expect(text).not.toMatch(LEAKS);
      }
    });
  });

  describe('with RATE_LIMIT_PER_MINUTE=0', () => {
    let server: ServerProcess;

    beforeAll(async () => {
      server = await start(env(redis.url, { RATE_LIMIT_PER_MINUTE: '0' }));
      await server.untilReady();
    });

    it('should never answer 429 and send no X-RateLimit headers', async () => {
      const grace = client('grace');

      const registered = await inSequence(30, () => register(server, grace));
      const refused = await inSequence(30, () => register(server, {}));

      expect(registered.map((r) => r.status)).toEqual(Array(30).fill(201));
      expect(refused.map((r) => r.status)).toEqual(Array(30).fill(401));
      expect([...registered, ...refused].flatMap(rateLimitHeaders)).toEqual([]);
    });
  });

  describe('with CORS_ORIGINS=https://app.example', () => {
    let server: ServerProcess;

    beforeAll(async () => {
      server = await start(env(redis.url, { CORS_ORIGINS: 'https://app.example' }));
      await server.untilReady();
    });

    const preflight = (origin: string) =>
      server.fetch(REGISTER, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });

    it('should allow that origin, and let it read the rate-limit headers', async () => {
      const response = await register(server, { ...client('heidi'), origin: 'https://app.example' });

      expect(response.status).toBe(201);
      expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(response.headers.get('vary')).toMatch(/\bOrigin\b/);
      expect(response.headers.get('access-control-expose-headers')).toBe(
        'Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset',
      );
    });

    it('should answer its preflight with the allowed methods and headers', async () => {
      const response = await preflight('https://app.example');

      expect(response.status).toBe(204);
      expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(response.headers.get('access-control-allow-methods')).toContain('POST');
      expect(response.headers.get('access-control-allow-headers')).toBe(
        'Authorization, Content-Type, Idempotency-Key, X-Request-Id',
      );
      expect(response.headers.get('access-control-max-age')).toBe('600');
    });

    it('should go on answering a kept-alive connection after a preflight (answered before any route runs)', async () => {
      const statuses = await new Promise<string[]>((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1');
        const seen: string[] = [];
        let received = '';
        const requests = [
          'GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
          `OPTIONS ${REGISTER} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n\r\n`,
          'GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
          'GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
        ];
        socket.once('connect', () => socket.write(requests[0]));
        socket.setEncoding('utf8').on('data', (chunk: string) => {
          received += chunk;
          const found = received.match(/HTTP\/1\.1 \d{3}/g) ?? [];
          // One request after the other on the same connection, each sent once the one before it is answered.
          while (seen.length < found.length) {
            seen.push(found[seen.length]);
            if (seen.length < requests.length) socket.write(requests[seen.length]);
          }
        });
        socket.once('close', () => resolve(seen));
        socket.once('error', reject);
        setTimeout(() => socket.destroy(), 5_000).unref();
      });

      expect(statuses).toEqual(['HTTP/1.1 200', 'HTTP/1.1 204', 'HTTP/1.1 200', 'HTTP/1.1 200']);
    });

    it('should send no CORS header to any other origin', async () => {
      const simple = await server.fetch('/health/live', { headers: { origin: 'https://evil.example' } });
      const post = await register(server, { ...client('ivan'), origin: 'https://evil.example' });
      const lookalike = await server.fetch('/health/live', { headers: { origin: 'https://app.example.evil.example' } });
      const refusedPreflight = await preflight('https://evil.example');

      expect([simple.status, post.status, lookalike.status]).toEqual([200, 201, 200]);
      expect(refusedPreflight.status).toBe(404);
      for (const response of [simple, post, lookalike, refusedPreflight]) {
        expect(response.headers.get('access-control-allow-origin')).toBeNull();
        expect(response.headers.get('access-control-allow-methods')).toBeNull();
      }
    });
  });

  describe('with Redis unreachable at a password-protected URL', () => {
    let server: ServerProcess;

    beforeAll(async () => {
      const port = await freePort();
      server = await start(env(`redis://:hunter2-redis-password@127.0.0.1:${port}/3`, { REDIS_TIMEOUT_MS: '300' }));
    });

    it('should answer 503 without the Redis URL, its password or a stack trace', async () => {
      const registered = await register(server, client('judy'));
      const ready = await server.fetch('/health/ready');

      expect(registered.status).toBe(503);
      expect(ready.status).toBe(503);
      for (const text of [await registered.text(), await ready.text()]) {
        expect(text).not.toMatch(LEAKS);
        expect(text).not.toContain('hunter2');
      }
    });
  });

  describe('with a bad value', () => {
    it.each([
      [
        'CORS_ORIGINS',
        { CORS_ORIGINS: 'https://app.example,https://b.example/path' },
        'CORS_ORIGINS must be a comma list of origins such as https://app.example (http or https, no path, no trailing slash): "https://b.example/path" is not one',
      ],
      ['RATE_LIMIT_PER_MINUTE', { RATE_LIMIT_PER_MINUTE: '-1' }, 'RATE_LIMIT_PER_MINUTE must not be less than 0'],
    ])('should refuse to start with a bad %s, naming it in one line', async (_, bad, message) => {
      const server = await start({ ...env('redis://127.0.0.1:1'), ...bad }, false);

      const exit = await server.exited;

      expect(exit.code).toBe(1);
      expect(server.stderr.trim()).toBe(`Invalid configuration: ${message}`);
    });
  });
});
