// The Dockerfile and docker-compose.yml (SPEC 3, 6.2), checked without a Docker engine: parsed, compared with
// what the project really uses, and the image's health check command run against the built server.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { testEnv } from '../support/app';
import { freePort } from '../support/free-port';
import { ServerProcess } from '../support/server-process';

jest.setTimeout(30_000);

const ROOT = join(__dirname, '..', '..');
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions, continuation lines joined, comments and parser directives dropped. */
function instructions(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

/** The instructions of each stage, in order; each stage starts with its FROM. */
function stages(all: Instruction[]): Instruction[][] {
  const result: Instruction[][] = [];
  for (const instruction of all) {
    if (instruction.keyword === 'FROM') result.push([]);
    result.at(-1)?.push(instruction);
  }
  return result;
}

/** The command of a HEALTHCHECK or CMD in exec form (a JSON array after any --options). */
const execForm = (args: string): string[] => JSON.parse(args.slice(args.indexOf('['))) as string[];

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  profiles?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, { condition?: string }>;
  stop_grace_period?: string;
}

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const all = instructions(dockerfile);
  const [build, runtime] = stages(all);
  const packageJson = JSON.parse(read('package.json')) as {
    scripts: Record<string, string>;
    engines: { node: string };
  };

  it('should build in one stage and run in another, both on node:24-bookworm-slim', () => {
    const froms = all.filter((instruction) => instruction.keyword === 'FROM').map((instruction) => instruction.args);

    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(froms[0]).toBe('node:24-bookworm-slim AS build');
    expect(froms.at(-1)).toMatch(/^node:24-bookworm-slim\b/);
    // The image's Node is the line package.json's engines names (">=24 <25").
    expect(packageJson.engines.node).toBe('>=24 <25');
  });

  it("should build with the project's own commands: npm ci (as .ci/run), npm run build, then drop devDependencies", () => {
    const runs = build
      .filter((instruction) => instruction.keyword === 'RUN')
      .map((instruction) => instruction.args)
      .join(' && ');

    expect(runs).toMatch(/\bnpm ci\b/);
    expect(read('.ci/run')).toMatch(/^npm ci$/m);
    expect(runs).toMatch(/\bnpm run build\b/);
    expect(packageJson.scripts.build).toBe('nest build');
    expect(runs).toMatch(/\bnpm prune --omit=dev\b/);
    expect(runs.indexOf('npm ci')).toBeLessThan(runs.indexOf('npm run build'));
    expect(runs.indexOf('npm run build')).toBeLessThan(runs.indexOf('npm prune'));
  });

  it('should copy only files that exist and that .dockerignore lets through', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    const sources = build
      .filter((instruction) => instruction.keyword === 'COPY')
      .flatMap((instruction) => instruction.args.split(/\s+/).slice(0, -1));

    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src']));
    for (const source of sources) {
      expect(existsSync(join(ROOT, source))).toBe(true);
      expect(ignored).not.toContain(source);
    }
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.env', '.git']));
  });

  it('should run the built service from the build stage as production', () => {
    const copies = runtime
      .filter((instruction) => instruction.keyword === 'COPY')
      .map((instruction) => instruction.args);
    const env = runtime
      .filter((instruction) => instruction.keyword === 'ENV')
      .map((instruction) => instruction.args)
      .join(' ');
    const cmd = runtime.find((instruction) => instruction.keyword === 'CMD')!;

    for (const path of ['dist', 'node_modules', 'package.json']) {
      expect(copies).toContainEqual(expect.stringMatching(new RegExp(`^--from=build /app/${path} `)));
    }
    expect(env).toMatch(/\bNODE_ENV=production\b/);
    expect(env).toMatch(/\bAPP_ENV=production\b/);
    // The same command as `npm run start:prod`, without npm in between (Node gets SIGTERM itself).
    expect(execForm(cmd.args)).toEqual(['node', 'dist/main.js']);
    expect(packageJson.scripts['start:prod']).toBe('exec node dist/main.js');
  });

  it('should switch to a non-root user before CMD', () => {
    const keywords = runtime.map((instruction) => instruction.keyword);
    const user = runtime.find((instruction) => instruction.keyword === 'USER');

    expect(user?.args).toBe('node');
    expect(keywords.lastIndexOf('USER')).toBeLessThan(keywords.indexOf('CMD'));
    expect(
      runtime.slice(keywords.lastIndexOf('USER')).filter((instruction) => instruction.keyword === 'USER'),
    ).toHaveLength(1);
  });

  it('should expose the default PORT and check liveness (not readiness) on it', () => {
    const expose = runtime.find((instruction) => instruction.keyword === 'EXPOSE');
    const healthcheck = runtime.find((instruction) => instruction.keyword === 'HEALTHCHECK')!;

    expect(expose?.args).toBe('8080');
    expect(execForm(healthcheck.args).join(' ')).toContain("fetch('http://127.0.0.1:8080/health/live')");
    expect(healthcheck.args).toMatch(/--timeout=\d+s/);
  });

  describe('its health check command, run against the built server', () => {
    const command = (port: number) =>
      execForm(all.find((instruction) => instruction.keyword === 'HEALTHCHECK')!.args).map((arg) =>
        arg.replace(':8080/', `:${port}/`),
      );
    const run = async (port: number): Promise<number> => {
      const [node, ...args] = command(port);
      expect(node).toBe('node');
      try {
        await promisify(execFile)(process.execPath, args, { timeout: 10_000 });
        return 0;
      } catch (error) {
        return (error as { code?: number }).code ?? -1;
      }
    };
    let server: ServerProcess | undefined;

    afterAll(async () => {
      await server?.kill();
    });

    it('should pass while the server runs, even without Redis', async () => {
      server = await ServerProcess.start(testEnv(`redis://127.0.0.1:${await freePort()}`));

      expect(await run(server.port)).toBe(0);
    });

    it('should fail when nothing answers', async () => {
      expect(await run(await freePort())).toBe(1);
    });
  });
});

describe('docker-compose.yml', () => {
  const text = read('docker-compose.yml');
  const compose = parse(text) as { services: Record<string, ComposeService> };
  const { redis, app } = compose.services;

  it('should give every service a health check', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      // The name in the compared value says which service lacks one.
      expect({ name, checked: (service.healthcheck?.test?.length ?? 0) > 1 }).toEqual({ name, checked: true });
      expect(service.healthcheck?.test?.[0]).toMatch(/^CMD(-SHELL)?$/);
    }
  });

  it('should run Redis persistent (AOF every second) and never evicting jobs', () => {
    const command = redis.command!.join(' ');

    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--appendfsync everysec');
    expect(command).toContain('--maxmemory-policy noeviction');
  });

  it('should start the service only with the "app" profile, so `docker compose up -d redis` starts Redis alone', () => {
    expect(app.profiles).toEqual(['app']);
    expect(redis.profiles).toBeUndefined();
    // Compose resolves ${VAR:?} in every service before it looks at profiles: one would break Redis alone.
    const strings = (value: unknown): string[] =>
      typeof value === 'string'
        ? [value]
        : value !== null && typeof value === 'object'
          ? Object.values(value).flatMap(strings)
          : [];
    expect(strings(compose).filter((value) => /\$\{[A-Za-z_]+:?\?/.test(value))).toEqual([]);
  });

  it('should build the service from the Dockerfile and start it once Redis is healthy', () => {
    expect(app.build).toBe('.');
    expect(app.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
    expect(compose.services['redis-insight'].depends_on).toEqual({ redis: { condition: 'service_healthy' } });
  });

  it('should point the service at the redis service, pass JWT_SECRET through, and publish port 8080 on loopback', () => {
    expect(app.environment).toMatchObject({
      REDIS_URL: 'redis://redis:6379',
      JWT_SECRET: '${JWT_SECRET:-}',
      HOST: '0.0.0.0',
      PORT: '8080',
    });
    expect(app.ports).toEqual(['127.0.0.1:${APP_PORT:-8080}:8080']);
  });

  it("should check the service's liveness exactly as the image does, and leave it time to shut down", () => {
    const imageCheck = execForm(
      instructions(read('Dockerfile')).find((instruction) => instruction.keyword === 'HEALTHCHECK')!.args,
    );

    expect(app.healthcheck?.test).toEqual(['CMD', ...imageCheck]);
    // Docker's SIGKILL must not come before SHUTDOWN_TIMEOUT_MS (10 s) is over.
    expect(Number.parseInt(app.stop_grace_period!, 10)).toBeGreaterThan(10);
  });

  it('should run two API-only and two worker-only services under the "scale" profile', () => {
    const { api, worker } = compose.services as Record<string, ComposeService & { deploy?: { replicas?: number } }>;

    for (const [service, role] of [
      [api, 'api'],
      [worker, 'worker'],
    ] as const) {
      expect(service.profiles).toEqual(['scale']);
      expect(service.environment).toMatchObject({ APP_ROLE: role, REDIS_URL: 'redis://redis:6379' });
      expect(service.deploy?.replicas).toBe(2);
      expect(service.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
      expect(service.healthcheck?.test).toEqual(app.healthcheck?.test);
    }
    expect(worker.ports).toBeUndefined();
  });
});
