// What the built server loads to start: the dashboard's packages only when the dashboard is on, OpenTelemetry's SDK
// only when tracing is, Fastify's schema compilers not at all (bench/README.md, start-up). Each case boots
// dist/app.factory.js in a node process of its own and reports the packages it loaded.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testEnv } from '../support/app';
import { RedisServer } from '../support/redis-server';

jest.setTimeout(30_000);

const ROOT = join(__dirname, '..', '..');

/**
 * Starts tracing when configured and creates and initialises the app (as main.ts does before listening), closes both,
 * prints the packages loaded.
 */
const BOOT = `
const { tracing } = require(${JSON.stringify(join(ROOT, 'dist', 'observability', 'tracing', 'start.js'))});
const { createApp } = require(${JSON.stringify(join(ROOT, 'dist', 'app.factory.js'))});
(async () => {
  const app = await createApp({ logger: false });
  await app.init();
  await app.close();
  await tracing?.shutdown();
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
  let defaultStart: Promise<string[]> | undefined;
  /** What a start with the default configuration loads: one boot, shared by the cases that read it. */
  const defaultPackages = (): Promise<string[]> => (defaultStart ??= packagesLoaded(testEnv(redis.url)));

  beforeAll(async () => {
    redis = await RedisServer.start();
  });

  afterAll(async () => {
    await redis?.close();
  });

  it('should not load bull-board while the dashboard is off', async () => {
    const packages = await defaultPackages();
    // The sentinel: what every start loads is seen.
    expect(packages).toEqual(expect.arrayContaining(['@nestjs/core', 'bullmq', 'class-validator']));
    expect(packages.filter((name) => name.startsWith('@bull-board/'))).toEqual([]);
  });

  it("should not load Fastify's schema compilers, since no route has a schema", async () => {
    const packages = await defaultPackages();
    expect(packages).toEqual(expect.arrayContaining(['fastify', '@nestjs/platform-fastify']));
    // fast-json-stringify itself stays: Fastify's error serialiser requires its small runtime (lib/serializer).
    const compilers = ['@fastify/ajv-compiler', 'ajv', '@fastify/fast-json-stringify-compiler'];
    expect(packages.filter((name) => compilers.includes(name))).toEqual([]);
  });

  it("should not load OpenTelemetry's SDK while tracing is off", async () => {
    const packages = await defaultPackages();
    expect(packages).toEqual(expect.arrayContaining(['@nestjs/core']));
    // The API is prom-client's too (its process CPU metric requires it for exemplars); the SDK is tracing's alone.
    expect(packages.filter((name) => name.startsWith('@opentelemetry/') && name !== '@opentelemetry/api')).toEqual([]);
  });

  it("should load OpenTelemetry's SDK once tracing is configured", async () => {
    // Nothing listens there: the spans of this boot (none: it serves no request) would fail to export, quietly.
    const packages = await packagesLoaded(testEnv(redis.url, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }));
    expect(packages).toEqual(expect.arrayContaining(['@opentelemetry/api', '@opentelemetry/sdk-node']));
  });

  it('should load bull-board once the dashboard is configured', async () => {
    const packages = await packagesLoaded(
      testEnv(redis.url, { DASHBOARD_USER: 'admin', DASHBOARD_PASSWORD: 'a-long-password-123' }),
    );
    expect(packages).toEqual(expect.arrayContaining(['@bull-board/api', '@bull-board/fastify']));
  });
});
