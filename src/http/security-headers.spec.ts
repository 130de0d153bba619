import Fastify, { FastifyInstance } from 'fastify';
import { addSecurityHeaders, API_SECURITY_HEADERS, helmetPolicy, pageSecurityHeaders } from './security-headers';

/** helmet's names for a web page, besides the five an API response gets. */
const PAGE_ONLY = [
  'cross-origin-opener-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
];

describe('security headers', () => {
  it('should give an API response the OWASP REST set, from helmet', () => {
    expect(API_SECURITY_HEADERS).toEqual({
      'content-security-policy': "default-src 'none';frame-ancestors 'none'",
      'cross-origin-resource-policy': 'same-origin',
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
    });
  });

  it("should give a web page helmet's defaults with its own policy, covering every API header", () => {
    const page = pageSecurityHeaders("default-src 'self'");

    expect(page['content-security-policy']).toBe("default-src 'self'");
    expect(page['x-frame-options']).toBe('SAMEORIGIN');
    expect(Object.keys(page)).toEqual(expect.arrayContaining([...Object.keys(API_SECURITY_HEADERS), ...PAGE_ONLY]));
  });

  it("should build a policy from helmet's defaults and the given directives", () => {
    const policy = helmetPolicy({ 'img-src': ["'self'", 'https:'], 'upgrade-insecure-requests': null });

    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("img-src 'self' https:");
    expect(policy).not.toContain('upgrade-insecure-requests');
  });

  describe('addSecurityHeaders', () => {
    let fastify: FastifyInstance;
    const page = pageSecurityHeaders("default-src 'self'");

    beforeAll(async () => {
      fastify = Fastify();
      addSecurityHeaders(fastify, (url) => url === '/page' || url.startsWith('/page/'), page);
      fastify.get('/api', async () => ({ ok: true }));
      fastify.get('/page', async (_request, reply) => reply.type('text/html').send('<p>page</p>'));
      fastify.get('/page/:asset', async () => 'asset');
      fastify.get('/pages', async () => ({ ok: true }));
      await fastify.ready();
    });

    afterAll(() => fastify.close());

    it.each(['/api', '/pages', '/no/such/route'])('should send only the API headers on %s', async (url) => {
      const response = await fastify.inject({ method: 'GET', url });

      for (const [name, value] of Object.entries(API_SECURITY_HEADERS)) expect(response.headers[name]).toBe(value);
      for (const name of PAGE_ONLY) expect(response.headers[name]).toBeUndefined();
    });

    it.each(['/page', '/page/app.js'])('should send the page headers instead on %s', async (url) => {
      const response = await fastify.inject({ method: 'GET', url });

      expect(response.statusCode).toBe(200);
      for (const [name, value] of Object.entries(page)) expect(response.headers[name]).toBe(value);
    });
  });
});
