// DOCS_ENABLED=false: no OpenAPI document and no UI (a separate file: the environment is read once per file).
import { RedisServer } from '../support/redis-server';
import { startApp, TestApp, testEnv } from '../support/app';

jest.setTimeout(30_000);

describe('OpenAPI documentation switched off', () => {
  let redis: RedisServer;
  let app: TestApp;

  beforeAll(async () => {
    redis = await RedisServer.start();
    app = await startApp(testEnv(redis.url, { DOCS_ENABLED: 'false' }));
  });

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  it.each(['/docs', '/docs/', '/docs-json', '/docs/swagger-ui-bundle.js'])(
    'should answer GET %s with 404',
    async (url) => {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ statusCode: 404, error: 'Not Found' });
    },
  );
});
