// Stopping the server the way the README says: Ctrl+C, or `kill <PID>` of `npm start` / `npm run start:prod`
// or of the pid the start-up line prints. Each must end the node process and free the port.
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../support/free-port';
import { RedisServer } from '../support/redis-server';
import { ServerProcess } from '../support/server-process';
import { testEnv } from '../support/app';

jest.setTimeout(90_000);

const ROOT = join(__dirname, '..', '..');
const LISTENING = /Listening on http:\/\/127\.0\.0\.1:(\d+) \(APP_ENV=test, pid (\d+)\)/;

const children: ChildProcess[] = [];
const serverPids: number[] = [];

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  serverPid: number;
}

/** Runs `command` in the repository (its own process group), as a user types it, until the server listens. */
async function startLikeAUser(command: string, args: string[], env: Record<string, string>): Promise<Started> {
  let output = '';
  const child = spawn(command, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      TZ: 'UTC',
      NO_COLOR: '1',
      HOST: '127.0.0.1',
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  let match: RegExpExecArray | null;
  while ((match = LISTENING.exec(output)) === null) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`${command} ${args.join(' ')} did not listen:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, output: () => output, exited, serverPid: Number(match[2]) };
}

async function gone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (existsSync(`/proc/${pid}`)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

describe('stopping the server as the README says', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });

  afterAll(async () => {
    for (const pid of serverPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone, as it should be
      }
    }
    for (const child of children) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await redis.close();
  });

  /** The port is free again: a second server binds it and answers. */
  async function expectPortFree(port: number): Promise<void> {
    const second = await ServerProcess.start(testEnv(redis.url, { PORT: String(port) }));
    try {
      expect((await second.fetch('/health/live')).status).toBe(200);
    } finally {
      expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    }
  }

  it.each([
    ['npm start', ['start']],
    ['npm run start:prod', ['run', 'start:prod']],
  ])('should stop the node process on `kill <PID of %s>`', async (_name, args) => {
    const port = await freePort();
    const started = await startLikeAUser('npm', args, testEnv(redis.url, { PORT: String(port) }));
    serverPids.push(started.serverPid);
    expect(started.serverPid).not.toBe(started.child.pid);

    process.kill(started.child.pid!, 'SIGTERM');

    await started.exited;
    expect(await gone(started.serverPid)).toBe(true);
    expect(started.output()).toContain('Shutdown complete');
    await expectPortFree(port);
  });

  it('should stop on `kill <pid printed at start-up>`', async () => {
    const port = await freePort();
    const started = await startLikeAUser('npm', ['run', 'start:prod'], testEnv(redis.url, { PORT: String(port) }));
    serverPids.push(started.serverPid);

    process.kill(started.serverPid, 'SIGTERM');

    expect(await started.exited).toBe(0);
    expect(await gone(started.serverPid)).toBe(true);
    expect(started.output()).toContain('Shutdown complete');
    await expectPortFree(port);
  });

  it('should shut down gracefully on Ctrl+C in a terminal running `npm run start:prod`', async () => {
    const port = await freePort();
    // `script` gives npm a terminal; ^C typed into it reaches the whole foreground group (npm and node).
    const started = await startLikeAUser(
      'script',
      ['--quiet', '--return', '--command', 'npm run start:prod', '/dev/null'],
      {
        ...testEnv(redis.url, { PORT: String(port) }),
      },
    );
    serverPids.push(started.serverPid);

    started.child.stdin!.write('\x03');

    await started.exited;
    expect(await gone(started.serverPid)).toBe(true);
    expect(started.output()).toContain('Shutdown complete');
    expect(started.output()).not.toContain('again: exiting now');
    await expectPortFree(port);
  });
});
