/**
 * Private, disposable Redis servers for end-to-end specs.
 *
 * `RedisServer.start()` spawns a real `redis-server` child process (not
 * daemonized) on a free port of 127.0.0.1 with persistence off and a fresh
 * temporary `--dir`, so a spec can freeze, kill, restart or flush it at will.
 *
 * Policy:
 *  - Fault-injection tests (freeze / kill / restart / stop) ALWAYS start their
 *    own server with `RedisServer.start()`; they never use `REDIS_URL`.
 *  - Tests that merely need *a* Redis may use `externalRedisUrl()` (the
 *    `REDIS_URL` env var) when it is set, and fall back to `RedisServer.start()`.
 *  - Nothing in the test suite ever flushes (FLUSHALL/FLUSHDB), reconfigures or
 *    shuts down a Redis it did not start itself. In particular the system Redis
 *    on 127.0.0.1:6379 is never touched by this helper.
 *
 * Every spawned child is tracked; on `process.on('exit')` (and on
 * SIGINT/SIGTERM/SIGHUP) any that are still alive are SIGKILLed (and their
 * temp dirs removed), so no redis-server outlives the test process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from './free-port';
import { eventually, sleep } from './wait';

export { freePort } from './free-port';

/** URL of an externally provided Redis (env `REDIS_URL`), for tests that only need *a* Redis. */
export function externalRedisUrl(): string | undefined {
  const url = process.env.REDIS_URL;
  return url !== undefined && url !== '' ? url : undefined;
}

export interface RedisServerOptions {
  /** TCP port on 127.0.0.1; a free one is picked when omitted. */
  port?: number;
  /** Extra redis-server arguments, appended after the defaults (so they win). */
  args?: string[];
  /** Sets `--requirepass`; also used by the readiness probe, `command()` and `url`. */
  password?: string;
  /**
   * A configuration file's text, written to `<dir>/redis.conf` and given first (as redis-server wants it): what
   * `--sentinel` needs, since a sentinel rewrites its file. Kept across restart().
   */
  config?: string;
}

const HOST = '127.0.0.1';
const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const READY_TIMEOUT_MS = 5_000;
const ADDR_IN_USE_RETRY_MS = 3_000;
const COMMAND_TIMEOUT_MS = 2_000;
const STOP_GRACE_MS = 5_000;
const POLL_MS = 25;
const PROBE_TIMEOUT_MS = 250;
const MAX_OUTPUT_CHARS = 64 * 1024;
const MAX_FRESH_PORT_ATTEMPTS = 5;

// ---------------------------------------------------------------------------
// Child tracking: nothing may outlive the test process.
// ---------------------------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
const liveServers = new Set<RedisServer>();
let hooksInstalled = false;

function isAlive(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

function killAllChildrenSync(): void {
  for (const child of liveChildren) {
    if (isAlive(child) && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  liveChildren.clear();
  for (const server of liveServers) {
    try {
      rmSync(server.dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllChildrenSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllChildrenSync();
      // If nobody else handles this signal, restore the default behaviour (die).
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

// ---------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------

/** Races `promise` against a timer that is always cleared (no dangling handles). */
async function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function encodeResp(args: readonly string[]): string {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return out;
}

/**
 * One short probe: connect, (AUTH), PING, INFO server. Resolves with the
 * `process_id` of whatever Redis answered PONG on that port, or null.
 * The pid lets us make sure it is *our* child answering, not a stranger
 * that happens to hold the port.
 */
function probe(port: number, password: string | undefined): Promise<number | null> {
  return new Promise<number | null>((resolve) => {
    let buf = '';
    let settled = false;
    const sock = connect({ host: HOST, port });
    const done = (pid: number | null): void => {
      if (settled) return;
      settled = true;
      sock.destroy();
      resolve(pid);
    };
    sock.setTimeout(PROBE_TIMEOUT_MS, () => done(null));
    sock.on('error', () => done(null));
    sock.on('close', () => done(null));
    sock.on('connect', () => {
      const auth = password !== undefined ? encodeResp(['AUTH', password]) : '';
      sock.write(auth + encodeResp(['PING']) + encodeResp(['INFO', 'server']));
    });
    sock.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      if (/(^|\r\n)-/.test(buf)) return done(null); // -LOADING, -NOAUTH, -ERR ...
      const m = /process_id:(\d+)\r\n/.exec(buf);
      if (m && buf.includes('+PONG\r\n')) done(Number(m[1]));
    });
  });
}

// ---------------------------------------------------------------------------
// One spawned redis-server process
// ---------------------------------------------------------------------------

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

class Spawned {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  exit: ExitInfo | undefined;
  private out = '';

  constructor(readonly argv: readonly string[]) {
    this.child = spawn(REDIS_BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const append = (chunk: Buffer): void => {
      this.out += chunk.toString('utf8');
      if (this.out.length > MAX_OUTPUT_CHARS) this.out = this.out.slice(-MAX_OUTPUT_CHARS);
    };
    this.child.stdout?.on('data', append);
    this.child.stderr?.on('data', append);
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        liveChildren.delete(this.child);
        resolve(this.exit);
      });
      // Spawn failure (ENOENT, EACCES): no 'exit' will follow.
      this.child.once('error', (error) => {
        if (this.child.pid !== undefined) return; // kill() failures etc.: 'exit' still comes
        this.exit = { code: null, signal: null, error };
        resolve(this.exit);
      });
    });
    if (this.child.pid !== undefined) liveChildren.add(this.child);
  }

  get output(): string {
    return this.out;
  }

  get alive(): boolean {
    return this.exit === undefined && isAlive(this.child);
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.alive || this.child.pid === undefined) return;
    try {
      process.kill(this.child.pid, sig);
    } catch {
      // raced with exit
    }
  }

  describe(): string {
    const e = this.exit;
    const status =
      e === undefined
        ? 'still running'
        : e.error
          ? `spawn error: ${e.error.message}`
          : `exit code=${e.code} signal=${e.signal}`;
    return `${REDIS_BIN} ${this.argv.map((a) => (a === '' ? "''" : a)).join(' ')}\n(${status})\n--- redis output ---\n${this.out}`;
  }
}

class ExitedEarlyError extends Error {
  constructor(readonly spawned: Spawned) {
    super(`redis-server exited before answering PING:\n${spawned.describe()}`);
  }
  get addrInUse(): boolean {
    return /Address already in use/i.test(this.spawned.output);
  }
}

async function waitReady(sp: Spawned, port: number, password: string | undefined): Promise<void> {
  // 'exited' ends the wait at once: our child is gone, whoever else may answer on the port.
  const outcome = await eventually(
    async () => {
      if (sp.exit !== undefined) return 'exited';
      const pid = await probe(port, password);
      if (pid !== null && pid === sp.child.pid) return 'ready';
      return sp.exit !== undefined ? 'exited' : undefined;
    },
    READY_TIMEOUT_MS,
    'PING',
    POLL_MS,
  ).catch(() => 'timed out');
  if (outcome === 'ready') return;
  if (outcome === 'exited' || sp.exit !== undefined) throw new ExitedEarlyError(sp);
  sp.signal('SIGKILL');
  await sp.exited;
  throw new Error(
    `redis-server did not answer PING within ${READY_TIMEOUT_MS} ms on ${HOST}:${port}:\n${sp.describe()}`,
  );
}

function buildArgv(
  port: number,
  dir: string,
  args: readonly string[],
  password: string | undefined,
  configFile: string | undefined,
): string[] {
  return [
    ...(configFile !== undefined ? [configFile] : []),
    '--port',
    String(port),
    '--bind',
    HOST,
    '--daemonize',
    'no',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    ...(password !== undefined ? ['--requirepass', password] : []),
    ...args,
  ];
}

/**
 * Spawns until one answers PING. On 'Address already in use':
 *  - fixed port: retry on the same port for up to ADDR_IN_USE_RETRY_MS;
 *  - picked port (`pickPort`): try a fresh free port a few times.
 */
async function launch(
  initialPort: number,
  dir: string,
  args: readonly string[],
  password: string | undefined,
  pickPort: (() => Promise<number>) | undefined,
  configFile: string | undefined,
): Promise<{ port: number; spawned: Spawned }> {
  installExitHooks();
  let port = initialPort;
  const retryUntil = Date.now() + ADDR_IN_USE_RETRY_MS;
  let freshPortAttempts = 0;
  for (;;) {
    const sp = new Spawned(buildArgv(port, dir, args, password, configFile));
    try {
      await waitReady(sp, port, password);
      return { port, spawned: sp };
    } catch (err) {
      if (!(err instanceof ExitedEarlyError) || !err.addrInUse) throw err;
      if (pickPort !== undefined && ++freshPortAttempts < MAX_FRESH_PORT_ATTEMPTS) {
        port = await pickPort();
        continue;
      }
      if (pickPort === undefined && Date.now() < retryUntil) {
        await sleep(POLL_MS);
        continue;
      }
      throw err;
    }
  }
}

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

export class RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:PORT, or redis://:PASSWORD@127.0.0.1:PORT when a password is set. */
  readonly url: string;
  /** Fresh temporary directory used as `--dir` (removed by close()). */
  readonly dir: string;

  private readonly args: readonly string[];
  private readonly password: string | undefined;
  private readonly configFile: string | undefined;
  private spawned: Spawned | undefined;
  private frozen = false;
  private closing: Promise<void> | undefined;

  private constructor(
    port: number,
    dir: string,
    args: readonly string[],
    password: string | undefined,
    configFile: string | undefined,
    spawned: Spawned,
  ) {
    this.port = port;
    this.dir = dir;
    this.args = args;
    this.password = password;
    this.configFile = configFile;
    this.spawned = spawned;
    const auth = password !== undefined ? `:${encodeURIComponent(password)}@` : '';
    this.url = `redis://${auth}${HOST}:${port}`;
  }

  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const args = [...(opts.args ?? [])];
    const dir = await mkdtemp(join(tmpdir(), 'redis-test-'));
    try {
      const configFile = opts.config !== undefined ? join(dir, 'redis.conf') : undefined;
      if (configFile !== undefined) await writeFile(configFile, opts.config!);
      const initialPort = opts.port ?? (await freePort());
      const { port, spawned } = await launch(
        initialPort,
        dir,
        args,
        opts.password,
        opts.port === undefined ? freePort : undefined,
        configFile,
      );
      const server = new RedisServer(port, dir, args, opts.password, configFile, spawned);
      liveServers.add(server);
      return server;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** close() every server started by this module that is not closed yet. */
  static async closeAll(): Promise<void> {
    await Promise.all([...liveServers].map((s) => s.close()));
  }

  /** pid of the current redis-server process, if one is running. */
  get pid(): number | undefined {
    return this.spawned?.alive ? this.spawned.child.pid : undefined;
  }

  get running(): boolean {
    return this.spawned?.alive ?? false;
  }

  get isFrozen(): boolean {
    return this.frozen && this.running;
  }

  /** Graceful shutdown: SIGTERM, wait (bounded), then SIGKILL. No-op if not running. */
  async stop(): Promise<void> {
    const sp = this.spawned;
    if (sp === undefined) return;
    if (sp.alive) {
      if (this.frozen) sp.signal('SIGCONT'); // a stopped process would not act on SIGTERM
      sp.signal('SIGTERM');
      const exitedInTime = await withTimeout(
        sp.exited.then(() => true),
        STOP_GRACE_MS,
        () => new Error('stop timeout'),
      ).catch(() => false);
      if (!exitedInTime) sp.signal('SIGKILL');
    }
    await sp.exited;
    this.frozen = false;
    this.spawned = undefined;
  }

  /** SIGKILL and wait for the process to be gone. No-op if not running. */
  async kill(): Promise<void> {
    const sp = this.spawned;
    if (sp === undefined) return;
    sp.signal('SIGKILL');
    await sp.exited;
    this.frozen = false;
    this.spawned = undefined;
  }

  /** SIGSTOP: the port stays open (connects succeed) but nothing is answered. */
  freeze(): void {
    const sp = this.requireRunning('freeze');
    sp.signal('SIGSTOP');
    this.frozen = true;
  }

  /** SIGCONT after freeze(). */
  resume(): void {
    const sp = this.requireRunning('resume');
    sp.signal('SIGCONT');
    this.frozen = false;
  }

  /** Start again on the same port, dir, args and password; waits until PING answers. Stops first if running. */
  async restart(): Promise<void> {
    if (this.closing !== undefined) throw new Error('RedisServer.restart(): server is closed');
    await this.stop();
    const { spawned } = await launch(this.port, this.dir, this.args, this.password, undefined, this.configFile);
    this.spawned = spawned;
  }

  /**
   * Runs one command through a short-lived ioredis client (always disconnected).
   * Rejects after 2 s, e.g. while the server is frozen or down.
   */
  async command(...args: (string | number)[]): Promise<unknown> {
    const [name, ...rest] = args;
    if (name === undefined) throw new Error('RedisServer.command(): no command given');
    const client = new Redis({
      host: HOST,
      port: this.port,
      password: this.password,
      lazyConnect: true,
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      reconnectOnError: () => false,
      autoResubscribe: false,
      connectTimeout: COMMAND_TIMEOUT_MS,
      commandTimeout: COMMAND_TIMEOUT_MS,
    });
    client.on('error', () => {
      // surfaced through the command promise; avoid ioredis' unhandled-error logging
    });
    try {
      return await withTimeout(
        client.connect().then(() => client.call(String(name), rest)),
        COMMAND_TIMEOUT_MS,
        () =>
          new Error(`redis command ${String(name)} on ${HOST}:${this.port} timed out after ${COMMAND_TIMEOUT_MS} ms`),
      );
    } finally {
      client.disconnect();
    }
  }

  /** Stop if running (resuming first if frozen) and remove the temp dir. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.stop();
      } finally {
        await rm(this.dir, { recursive: true, force: true });
        liveServers.delete(this);
      }
    })();
    return this.closing;
  }

  private requireRunning(op: string): Spawned {
    const sp = this.spawned;
    if (sp === undefined || !sp.alive) throw new Error(`RedisServer.${op}(): server is not running`);
    return sp;
  }
}
