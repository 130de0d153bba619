// What the built server loads to start: the dashboard's packages only when the dashboard is on (bench/README.md,
// start-up). Each case boots dist/app.factory.js in a node process of its own and reports the packages it loaded.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testEnv } from '../support/app';
import { RedisServer } from '../support/redis-server';

jest.setTimeout(30_000);

const ROOT = join(__dirname, '..', '..');

/** Creates and initialises the app (as main.ts does before listening), closes it, prints the packages loaded. */
const BOOT = `
const { createApp } = require(${JSON.stringify(join(ROOT, 'dist', 'app.factory.js'))});
(async () => {
  const app = await createApp({ logger: false });
  await app.init();
  await app.close();
  const packages = new Set(Object.keys(require.cache).map((file) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(file)?.[1]));
  // Exits as main.ts does once closed, whatever timers a library left behind.
  process.stdout.write(JSON.stringify([...packages].filter(Boolean)), () => process.exit(0));
})().catch((error) => { console.error(error); process.exit(1); });
`;

async function packagesLoaded(env: Record<string, string>): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', BOOT], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
  });
  return JSON.parse(stdout) as string[];
}

describe('start-up', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });

  afterAll(async () => {
    await redis?.close();
  });

  it('should not load bull-board while the dashboard is off', async () => {
    const packages = await packagesLoaded(testEnv(redis.url));
    // The sentinel: what every start loads is seen.
    expect(packages).toEqual(expect.arrayContaining(['@nestjs/core', 'bullmq', 'class-validator']));
    expect(packages.filter((name) => name.startsWith('@bull-board/'))).toEqual([]);
  });

  it('should load bull-board once the dashboard is configured', async () => {
    const packages = await packagesLoaded(
      testEnv(redis.url, { DASHBOARD_USER: 'admin', DASHBOARD_PASSWORD: 'a-long-password-123' }),
    );
    expect(packages).toEqual(expect.arrayContaining(['@bull-board/api', '@bull-board/fastify']));
  });
});
