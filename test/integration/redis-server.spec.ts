import Redis from 'ioredis';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { freePort } from '../support/free-port';
import { RedisServer, externalRedisUrl } from '../support/redis-server';

jest.setTimeout(30_000);

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function mustPid(server: RedisServer): number {
  const pid = server.pid;
  if (pid === undefined) throw new Error('server has no running pid');
  return pid;
}

describe('freePort', () => {
  it('returns a port that can be bound on 127.0.0.1', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const srv = createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve());
    });
    expect((srv.address() as AddressInfo).port).toBe(port);
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  });
});

describe('externalRedisUrl', () => {
  const saved = process.env.REDIS_URL;
  afterEach(() => {
    if (saved === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = saved;
  });

  it('mirrors REDIS_URL', () => {
    process.env.REDIS_URL = 'redis://example:1234';
    expect(externalRedisUrl()).toBe('redis://example:1234');
    delete process.env.REDIS_URL;
    expect(externalRedisUrl()).toBeUndefined();
  });
});

describe('RedisServer', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await RedisServer.start();
  });

  afterAll(async () => {
    await RedisServer.closeAll();
  });

  it('starts on a private port and answers PING through command()', async () => {
    expect(server.port).not.toBe(6379);
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(await server.command('PING')).toBe('PONG');
    expect(await server.command('SET', 'k', 42)).toBe('OK');
    expect(await server.command('GET', 'k')).toBe('42');
    expect(await server.command('CONFIG', 'GET', 'save')).toEqual(['save', '']);
    expect(await server.command('CONFIG', 'GET', 'dir')).toEqual(['dir', expect.stringContaining('redis-test-')]);
  });

  it('is usable by an ordinary ioredis client via url', async () => {
    const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await client.connect();
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });

  it('freeze makes command() reject within ~2 s; resume makes it answer again', async () => {
    server.freeze();
    expect(server.isFrozen).toBe(true);
    const t0 = Date.now();
    await expect(server.command('PING')).rejects.toThrow(/timed out|timeout/i);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(1_500);
    expect(elapsed).toBeLessThan(3_000);

    server.resume();
    expect(server.isFrozen).toBe(false);
    expect(await server.command('PING')).toBe('PONG');
  });

  it('kill then restart keeps the same port and answers', async () => {
    const port = server.port;
    const oldPid = mustPid(server);
    await server.kill();
    expect(processExists(oldPid)).toBe(false);
    expect(server.running).toBe(false);
    await expect(server.command('PING')).rejects.toThrow();

    await server.restart();
    expect(server.port).toBe(port);
    expect(mustPid(server)).not.toBe(oldPid);
    expect(await server.command('PING')).toBe('PONG');
  });

  it('restart retries while the port is briefly still taken', async () => {
    const port = server.port;
    await server.kill();
    // Squat on the port for ~500 ms, as a lingering socket would.
    const squatter = createServer();
    await new Promise<void>((resolve, reject) => {
      squatter.once('error', reject);
      squatter.listen(port, '127.0.0.1', () => resolve());
    });
    const release = setTimeout(() => squatter.close(), 500);
    try {
      const t0 = Date.now();
      await server.restart();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
      expect(server.port).toBe(port);
      expect(await server.command('PING')).toBe('PONG');
    } finally {
      clearTimeout(release);
      squatter.close();
    }
  });

  it('stop then restart keeps the same port and answers', async () => {
    const port = server.port;
    const oldPid = mustPid(server);
    await server.stop();
    expect(processExists(oldPid)).toBe(false);
    await server.stop(); // no-op when already stopped

    await server.restart();
    expect(server.port).toBe(port);
    expect(await server.command('PING')).toBe('PONG');
  });

  it('restart() while frozen brings it back', async () => {
    server.freeze();
    await server.restart();
    expect(await server.command('PING')).toBe('PONG');
  });

  it('honours password and extra args', async () => {
    const s = await RedisServer.start({ password: 'p@ss word', args: ['--maxmemory', '10mb'] });
    try {
      expect(s.url).toBe(`redis://:${encodeURIComponent('p@ss word')}@127.0.0.1:${s.port}`);
      expect(await s.command('CONFIG', 'GET', 'maxmemory')).toEqual(['maxmemory', String(10 * 1024 * 1024)]);
      const client = new Redis(s.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await client.connect();
        expect(await client.ping()).toBe('PONG');
      } finally {
        client.disconnect();
      }
    } finally {
      await s.close();
    }
  });

  it('start on an explicit port that is already taken fails with redis output', async () => {
    const s = RedisServer.start({ port: server.port });
    await expect(s).rejects.toThrow(/Address already in use/);
  });

  it('close is idempotent, works while frozen, and leaves no process or dir', async () => {
    const s = await RedisServer.start();
    const pid = mustPid(s);
    const dir = s.dir;
    expect(processExists(pid)).toBe(true);
    s.freeze();

    await Promise.all([s.close(), s.close()]);
    await s.close();

    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(dir)).toBe(false);
    expect(s.running).toBe(false);
    await expect(s.restart()).rejects.toThrow(/closed/);
  });
});
