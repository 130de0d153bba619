// The queue dashboard (SPEC 6.2, 6.6) in the in-process app: bull-board at /admin/queues behind HTTP Basic,
// read-only by default (DASHBOARD_READ_ONLY unset). The attacks themselves: resilience/dashboard-abuse.system-spec.ts.
import { startApp, testEnv, TestApp } from '../support/app';
import { RedisServer } from '../support/redis-server';
import { bearer } from '../support/tokens';

jest.setTimeout(30_000);

const USER = 'admin';
const PASSWORD = 'a-long-password-123';
const basic = (user: string, password: string): { authorization: string } => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});
const CHALLENGE = /^Basic realm="dm-jobqueue dashboard"/;

describe('queue dashboard (credentials configured)', () => {
  let redis: RedisServer;
  let app: TestApp;

  beforeAll(async () => {
    redis = await RedisServer.start();
    app = await startApp(
      testEnv(redis.url, { DASHBOARD_USER: USER, DASHBOARD_PASSWORD: PASSWORD, RATE_LIMIT_PER_MINUTE: '2' }),
    );
  });

  afterAll(async () => {
    await app?.close();
    await redis?.close();
  });

  it('should challenge a request without credentials', async () => {
    const response = await app.inject({ method: 'GET', url: '/admin/queues' });

    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(CHALLENGE);
    expect(response.body).not.toContain('<html');
  });

  it('should refuse a wrong password and a wrong user', async () => {
    for (const headers of [basic(USER, 'a-long-password-124'), basic('root', PASSWORD), basic(USER, '')]) {
      const response = await app.inject({ method: 'GET', url: '/admin/queues', headers });
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(CHALLENGE);
    }
  });

  it('should not open for a valid bearer token alone', async () => {
    for (const url of ['/admin/queues', '/admin/queues/api/queues']) {
      const response = await app.inject({ method: 'GET', url, headers: bearer() });
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(CHALLENGE);
    }
  });

  it('should serve the dashboard page with the right credentials and a policy that lets it load', async () => {
    const response = await app.inject({ method: 'GET', url: '/admin/queues', headers: basic(USER, PASSWORD) });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body).toContain('<base href="/admin/queues/"');
    const csp = String(response.headers['content-security-policy']);
    expect(csp).toMatch(/style-src 'self' 'unsafe-inline'/);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    // Not helmet's: the dashboard may be served over plain HTTP on a private network.
    expect(csp).not.toContain('upgrade-insecure-requests');
    // A web page's other helmet headers, not the API's.
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
  });

  it('should load nothing from a third party: no other origin in its page, its CSP, or what the page links', async () => {
    const page = await app.inject({ method: 'GET', url: '/admin/queues', headers: basic(USER, PASSWORD) });
    const csp = String(page.headers['content-security-policy']);
    const fonts = /fonts\.(googleapis|gstatic)\.com/;

    expect(page.body).not.toMatch(/(https?:)?\/\/[a-z0-9.-]+/i);
    expect(Number(page.headers['content-length'])).toBe(Buffer.byteLength(page.body));
    for (const directive of csp.split(';')) {
      const [, ...sources] = directive.trim().split(/\s+/);
      expect(sources.filter((source) => !["'self'", "'none'", "'unsafe-inline'", 'data:'].includes(source))).toEqual(
        [],
      );
    }
    const linked = [...page.body.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
    const scripts = linked.filter((url) => url.endsWith('.js'));
    const styles = linked.filter((url) => url.endsWith('.css'));
    expect(scripts.length).toBeGreaterThan(0);
    expect(styles.length).toBeGreaterThan(0);
    for (const url of [...scripts, ...styles]) {
      const asset = await app.inject({ method: 'GET', url: `/admin/queues/${url}`, headers: basic(USER, PASSWORD) });
      expect(asset.statusCode).toBe(200);
      expect(asset.body).not.toMatch(fonts);
      // A stylesheet's url(…) and @import are loads; a script's URLs are mostly text (links, XML namespaces).
      if (url.endsWith('.css')) expect(asset.body).not.toMatch(/(url\(|@import)\s*["']?(https?:)?\/\//i);
    }
  });

  it('should serve its static assets behind the same credentials', async () => {
    const page = await app.inject({ method: 'GET', url: '/admin/queues', headers: basic(USER, PASSWORD) });
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();

    const denied = await app.inject({ method: 'GET', url: `/admin/queues/${script}` });
    const served = await app.inject({ method: 'GET', url: `/admin/queues/${script}`, headers: basic(USER, PASSWORD) });

    expect(denied.statusCode).toBe(401);
    expect(served.statusCode).toBe(200);
    expect(served.headers['content-type']).toMatch(/javascript/);
  });

  it('should list the service queue in its API', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/admin/queues/api/queues',
      headers: basic(USER, PASSWORD),
    });

    expect(response.statusCode).toBe(200);
    const body = response.json<{ queues: { name: string }[] }>();
    expect(body.queues.map((queue) => queue.name)).toEqual(['jobs']);
  });

  it('should be outside the rate limit and the bearer guard (plain Fastify routes)', async () => {
    // RATE_LIMIT_PER_MINUTE is 2 here: more requests than that still pass, and carry no X-RateLimit-* header.
    for (let i = 0; i < 5; i += 1) {
      const response = await app.inject({
        method: 'GET',
        url: '/admin/queues/api/queues',
        headers: basic(USER, PASSWORD),
      });
      expect(response.statusCode).toBe(200);
      expect(Object.keys(response.headers).filter((name) => name.startsWith('x-ratelimit'))).toEqual([]);
    }
  });

  it('should be read-only by default, in bull-board and in front of it', async () => {
    const listed = await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: basic(USER, PASSWORD) });
    const add = await app.inject({
      method: 'POST',
      url: '/admin/queues/api/queues/jobs/add',
      headers: basic(USER, PASSWORD),
    });

    expect(listed.json<{ queues: { readOnlyMode: boolean }[] }>().queues.map((queue) => queue.readOnlyMode)).toEqual([
      true,
    ]);
    expect(add.statusCode).toBe(405);
    expect(add.headers.allow).toBe('GET, HEAD');
    expect(add.json()).toEqual({
      statusCode: 405,
      message: 'The dashboard is read-only (DASHBOARD_READ_ONLY=true)',
      error: 'Method Not Allowed',
    });
  });

  it('should shut an address out after 10 failed logins, and that address only', async () => {
    const from = (remoteAddress: string, password: string) =>
      app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: basic(USER, password), remoteAddress });

    for (let i = 0; i < 10; i += 1) expect((await from('198.51.100.1', 'a-wrong-password')).statusCode).toBe(401);
    const blocked = [await from('198.51.100.1', 'a-wrong-password'), await from('198.51.100.1', PASSWORD)];

    expect(blocked.map((response) => response.statusCode)).toEqual([429, 429]);
    expect(blocked[1].json()).toEqual({
      statusCode: 429,
      message: 'Too many failed dashboard logins',
      error: 'Too Many Requests',
    });
    expect(Number(blocked[1].headers['retry-after'])).toBeGreaterThan(0);
    expect((await from('198.51.100.2', PASSWORD)).statusCode).toBe(200);
  });

  it("should leave the API's headers on every other route", async () => {
    const response = await app.inject({ method: 'GET', url: '/health/live' });

    expect(response.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.headers['referrer-policy']).toBeUndefined();
    expect(response.headers['www-authenticate']).toBeUndefined();
  });
});
