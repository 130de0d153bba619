import Fastify, { FastifyInstance } from 'fastify';
import { Writable } from 'node:stream';
import { createRootLogger } from './logger.factory';
import { accessLogLevel, loggedPath, logResponses } from './access-log';
import { requestIdFor } from './request-id';

const BEARER = 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';

describe('loggedPath', () => {
  it('should drop the query string', () => {
    expect(loggedPath('/api/x?token=abc&b=2')).toBe('/api/x');
  });

  it('should cut a very long path', () => {
    const path = loggedPath(`/${'a'.repeat(10_000)}`);

    expect(path).toHaveLength(257);
    expect(path.endsWith('…')).toBe(true);
  });
});

describe('accessLogLevel', () => {
  it.each([
    ['/api/dm-jobqueue/register', 201, 'info'],
    ['/api/dm-jobqueue/register', 400, 'info'],
    ['/api/dm-jobqueue/register', 401, 'info'],
    ['unmatched', 404, 'info'],
    ['/api/dm-jobqueue/register', 503, 'warn'],
    ['/health/ready', 503, 'debug'],
    ['/api/dm-jobqueue/register', 500, 'error'],
    ['/health/live', 200, 'debug'],
    ['/health', 200, 'debug'],
    ['/metrics', 200, 'debug'],
  ])('should log %s %i at %s', (route, status, level) => {
    expect(accessLogLevel(route, status)).toBe(level);
  });
});

describe('logResponses', () => {
  let app: FastifyInstance;
  let text = '';
  const lines = () =>
    text
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString('utf8');
        done();
      },
    });
    app = Fastify({ genReqId: requestIdFor });
    logResponses(app, createRootLogger('info', stream));
    app.get('/jobs/:id', async () => ({ ok: true }));
    app.get('/health/live', async () => ({ status: 'ok' }));
    app.get('/boom', async (_request, reply) => reply.status(500).send({ statusCode: 500 }));
    await app.ready();
  });

  beforeEach(() => {
    text = '';
  });

  afterAll(() => app.close());

  it('should write one line with reqId, method, route pattern, path, status and response time, and no header', async () => {
    await app.inject({
      method: 'GET',
      url: '/jobs/42?token=abc',
      headers: { authorization: BEARER, cookie: 'session=c00kie', 'x-request-id': 'req-1' },
    });

    const [line] = lines();
    expect(line).toEqual({
      level: 'info',
      time: expect.any(String),
      pid: process.pid,
      hostname: expect.any(String),
      reqId: 'req-1',
      method: 'GET',
      route: '/jobs/:id',
      url: '/jobs/42',
      statusCode: 200,
      responseTime: expect.any(Number),
      msg: 'request completed',
    });
    expect(text).not.toMatch(/eyJhbGci|c00kie|token=abc/);
  });

  it('should name an unmatched request "unmatched"', async () => {
    await app.inject({ method: 'GET', url: '/wp-login.php' });

    expect(lines()[0]).toMatchObject({ route: 'unmatched', url: '/wp-login.php', statusCode: 404 });
  });

  it('should keep probes out of an info log', async () => {
    await app.inject({ method: 'GET', url: '/health/live' });

    expect(text).toBe('');
  });

  it('should log a 5xx at error', async () => {
    await app.inject({ method: 'GET', url: '/boom' });

    expect(lines()[0]).toMatchObject({ level: 'error', route: '/boom', statusCode: 500 });
  });
});
