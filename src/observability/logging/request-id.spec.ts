import Fastify from 'fastify';
import type { IncomingMessage } from 'node:http';
import { echoRequestId, isValidRequestId, requestIdFor } from './request-id';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const withHeader = (value?: string | string[]) =>
  ({ headers: { 'x-request-id': value } }) as unknown as IncomingMessage;

describe('isValidRequestId', () => {
  it.each(['abc', 'a.b_c-D9', '0b8f5b52-8f5e-4a8e-9d3c-3f1f2f8a9b10', 'x'.repeat(128)])('should accept %j', (value) => {
    expect(isValidRequestId(value)).toBe(true);
  });

  it.each(['', 'x'.repeat(129), 'has space', 'line\nbreak', 'quote"', '{"json":1}', 'é', undefined, 42, ['a', 'b']])(
    'should refuse %j',
    (value) => {
      expect(isValidRequestId(value)).toBe(false);
    },
  );
});

describe('requestIdFor', () => {
  it("should take the caller's X-Request-Id when it is sane", () => {
    expect(requestIdFor(withHeader('req-42'))).toBe('req-42');
  });

  it.each([undefined, 'bad id', 'x'.repeat(129), ['a', 'b']])('should generate a UUID instead of %j', (value) => {
    const id = requestIdFor(withHeader(value));

    expect(id).toMatch(UUID);
    expect(requestIdFor(withHeader(value))).not.toBe(id);
  });
});

describe('echoRequestId', () => {
  const app = Fastify({ genReqId: requestIdFor });
  echoRequestId(app);
  app.get('/ok', async () => ({ ok: true }));

  afterAll(() => app.close());

  it('should answer with the id it was sent', async () => {
    const response = await app.inject({ method: 'GET', url: '/ok', headers: { 'x-request-id': 'client-7' } });

    expect(response.headers['x-request-id']).toBe('client-7');
  });

  it('should answer with a generated id on a 404 too', async () => {
    const response = await app.inject({ method: 'GET', url: '/missing' });

    expect(response.statusCode).toBe(404);
    expect(response.headers['x-request-id']).toMatch(UUID);
  });
});
