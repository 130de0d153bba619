// What the built server loads to start (bench/README.md, start-up): dist/main.js is one bundle of the service and
// the packages it needs (scripts/bundle.js), so it reads a few files from node_modules, not about 1 900; the
// dashboard's packages only when the dashboard is on. Each case runs dist/main.js with a preload that writes, as the
// process exits, every file Node's module loader has loaded.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { testEnv } from '../support/app';
import { RedisServer } from '../support/redis-server';
import { ServerProcess } from '../support/server-process';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { unreviewedSelfLocating } = require('../../scripts/bundle') as {
  unreviewedSelfLocating: (files: string[], reviewed: object, read: (file: string) => string) => string[];
};

jest.setTimeout(30_000);

const ROOT = join(__dirname, '..', '..');

/** The files loaded, relative to the project; and the packages of node_modules among them. */
interface Loaded {
  files: string[];
  packages: string[];
}

describe('start-up', () => {
  let redis: RedisServer;
  let dir: string;
  let preload: string;

  beforeAll(async () => {
    redis = await RedisServer.start();
    dir = mkdtempSync(join(tmpdir(), 'start-up-'));
    preload = join(dir, 'loaded-files.js');
    writeFileSync(
      preload,
      `process.once('exit', () => require('node:fs').writeFileSync(process.env.LOADED_FILES, JSON.stringify(Object.keys(require.cache))));\n`,
    );
  });

  afterAll(async () => {
    await redis?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts dist/main.js with `extra`, waits until it is ready, runs `whileUp`, stops it and reads what it loaded. */
  async function loadedBy(
    extra: Record<string, string> = {},
    whileUp: (server: ServerProcess) => Promise<void> = async () => undefined,
  ): Promise<Loaded> {
    const out = join(dir, `loaded-${Date.now()}.json`);
    const server = await ServerProcess.start(
      testEnv(redis.url, { NODE_OPTIONS: `--require ${preload}`, LOADED_FILES: out, ...extra }),
    );
    try {
      await server.untilReady();
      await whileUp(server);
    } finally {
      expect(await server.stop()).toEqual({ code: 0, signal: null });
    }
    const files = (JSON.parse(readFileSync(out, 'utf8')) as string[]).map((file) => relative(ROOT, file));
    const packages = new Set(files.map((file) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1]));
    return { files, packages: [...packages].filter((name): name is string => name !== undefined) };
  }

  it('should start from its one bundled file, loading from node_modules only what the bundle leaves out', async () => {
    const { files, packages } = await loadedBy();

    // Of dist/, only the bundle: not tsc's app.factory.js and the rest.
    expect(files.filter((file) => file.startsWith('dist/'))).toEqual(['dist/main.js']);
    // The sentinel: packages left to Node's loader are seen (ioredis and pino, scripts/bundle.js EXTERNAL)…
    expect(packages).toEqual(expect.arrayContaining(['ioredis', 'pino']));
    // …the framework and the queue are not: they are in the bundle.
    for (const bundled of ['@nestjs/core', '@nestjs/common', 'bullmq', 'class-validator', 'fastify', 'rxjs']) {
      expect(packages).not.toContain(bundled);
    }
    // About 1 900 before the bundle.
    expect(files.length).toBeLessThan(300);
  });

  it('should not load bull-board while the dashboard is off', async () => {
    const { packages } = await loadedBy({}, async (server) => {
      expect((await server.fetch('/admin/queues')).status).toBe(404);
    });

    expect(packages).toContain('ioredis');
    expect(packages.filter((name) => name.startsWith('@bull-board/'))).toEqual([]);
  });

  it('should load bull-board once the dashboard is configured, and serve it', async () => {
    const password = 'a-long-password-123';
    const { packages } = await loadedBy({ DASHBOARD_USER: 'admin', DASHBOARD_PASSWORD: password }, async (server) => {
      const basic = `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
      expect((await server.fetch('/admin/queues')).status).toBe(401);
      const page = await server.fetch('/admin/queues', { headers: { authorization: basic } });
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<html/i);
    });

    expect(packages).toEqual(expect.arrayContaining(['@bull-board/api', '@bull-board/fastify']));
  });

  it("should print develop's pretty log lines: pino starts pino-pretty in a worker thread from files of its own", async () => {
    const server = await ServerProcess.start(testEnv(redis.url, { APP_ENV: 'develop' }));
    try {
      await server.untilReady();
      expect(server.stdout).toMatch(/^INFO \[[\d-]+ [\d:.]+\]: \[Bootstrap\] Listening on /m);
      expect(server.stdout).not.toMatch(/^\{"level"/m);
    } finally {
      expect(await server.stop()).toEqual({ code: 0, signal: null });
    }
  });
});

describe('the bundle step (scripts/bundle.js)', () => {
  const sources: Record<string, string> = {
    'node_modules/beside/index.js':
      "module.exports = require('fs').readFileSync(require('path').join(__dirname, 'x'));",
    'node_modules/resolves/index.js': "module.exports = require.resolve('other');",
    'node_modules/plain/index.js': 'module.exports = 1;',
  };
  const read = (file: string): string => sources[file];

  it('should refuse a bundled file that looks for files beside itself, unless it was reviewed', () => {
    expect(unreviewedSelfLocating(Object.keys(sources), {}, read)).toEqual([
      'node_modules/beside/index.js',
      'node_modules/resolves/index.js',
    ]);
    expect(
      unreviewedSelfLocating(Object.keys(sources), { 'node_modules/beside/index.js': 'read, harmless' }, read),
    ).toEqual(['node_modules/resolves/index.js']);
  });
});
