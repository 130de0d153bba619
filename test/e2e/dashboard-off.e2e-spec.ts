// Without DASHBOARD_USER and DASHBOARD_PASSWORD there is no dashboard (startApp reads the environment
// once per spec file, hence a file of its own).
import { startApp, testEnv, TestApp } from '../support/app';
import { RedisServer } from '../support/redis-server';
import { bearer } from '../support/tokens';

jest.setTimeout(30_000);

describe('queue dashboard (no credentials configured)', () => {
  let redis: RedisServer;
  let app: TestApp;

  beforeAll(async () => {
    delete process.env.DASHBOARD_USER;
    delete process.env.DASHBOARD_PASSWORD;
    redis = await RedisServer.start();
    app = await startApp(testEnv(redis.url));
  });

  afterAll(async () => {
    await app?.close();
    await redis?.close();
  });

  it.each(['/admin/queues', '/admin/queues/', '/admin/queues/api/queues'])('should answer %s with 404', async (url) => {
    const basic = { authorization: `Basic ${Buffer.from('admin:a-long-password-123').toString('base64')}` };
    for (const headers of [{}, basic, bearer()]) {
      const response = await app.inject({ method: 'GET', url, headers });
      expect(response.statusCode).toBe(404);
      expect(response.headers['www-authenticate']).toBeUndefined();
    }
  });
});
