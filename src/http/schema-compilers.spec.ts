import Fastify, { type FastifyInstance } from 'fastify';
import { lazySchemaCompilers } from './schema-compilers';

describe('lazySchemaCompilers', () => {
  let fastify: FastifyInstance;

  beforeEach(async () => {
    fastify = Fastify({ schemaController: lazySchemaCompilers() });
    fastify.post(
      '/things',
      {
        schema: {
          body: {
            type: 'object',
            required: ['name'],
            properties: { name: { type: 'string', minLength: 1 } },
          },
          response: { 200: { type: 'object', properties: { name: { type: 'string' } } } },
        },
      },
      (request) => ({ ...(request.body as object), secret: 'not in the response schema' }),
    );
    fastify.get('/plain', () => ({ kept: true }));
    await fastify.ready();
  });

  afterEach(async () => {
    await fastify.close();
  });

  it("should validate a route's body with Fastify's ajv compiler", async () => {
    const response = await fastify.inject({ method: 'POST', url: '/things', payload: { name: '' } });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'FST_ERR_VALIDATION',
      message: 'body/name must NOT have fewer than 1 characters',
    });
  });

  it("should serialise a route's response with fast-json-stringify", async () => {
    const response = await fastify.inject({ method: 'POST', url: '/things', payload: { name: 'a' } });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('{"name":"a"}');
  });

  it('should leave a route without a schema as it is', async () => {
    const response = await fastify.inject({ method: 'GET', url: '/plain' });
    expect(response.json()).toEqual({ kept: true });
  });
});
