// Runs the built server (node dist/main.js) as a child process and reads what it prints.
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './free-port';
import { JOB_LINE } from './job-lines';
import { bearer } from './tokens';
import { eventually } from './wait';

const MAIN = join(__dirname, '..', '..', 'dist', 'main.js');
const running = new Set<ChildProcess>();
process.on('exit', () => running.forEach((child) => child.kill('SIGKILL')));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ServerProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    private readonly tty: boolean,
  ) {
    // A terminal turns "\n" into "\r\n"; keep the text as the program wrote it.
    child
      .stdout!.setEncoding('utf8')
      .on('data', (chunk: string) => (this.stdout += tty ? chunk.replace(/\r\n/g, '\n') : chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        running.delete(child);
        resolve({ code, signal });
      }),
    );
  }

  /**
   * Starts dist/main.js with exactly `env` (plus PATH, and PORT on a free port unless given).
   * With `tty`, its standard output is a terminal (through `script`, from util-linux): writing to a
   * terminal nobody reads blocks the process, which is how a spec freezes it in the middle of a job.
   */
  static async start(env: Record<string, string>, waitForListening = true, tty = false): Promise<ServerProcess> {
    const port = env.PORT !== undefined ? Number(env.PORT) : await freePort();
    const [command, args] = tty
      ? ['script', ['--quiet', '--return', '--command', `exec ${process.execPath} ${MAIN}`, '/dev/null']]
      : [process.execPath, [MAIN]];
    const child = spawn(command, args, {
      env: {
        PATH: process.env.PATH ?? '',
        TZ: process.env.TZ ?? 'UTC',
        NO_COLOR: '1',
        PORT: String(port),
        HOST: '127.0.0.1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: tty, // its own process group, so kill() reaches the server behind `script`
    });
    running.add(child);
    const server = new ServerProcess(child, port, tty);
    if (waitForListening) await server.waitForOutput(/Listening on/);
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get jobLines(): string[] {
    return this.stdout.split('\n').filter((line) => JOB_LINE.test(line));
  }

  async waitForOutput(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    // 'exited' ends the wait at once: a dead server will not print it later.
    const outcome = await eventually(
      () => (pattern.test(this.stdout + this.stderr) ? 'printed' : this.child.exitCode !== null ? 'exited' : undefined),
      timeoutMs,
    ).catch(() => 'timed out');
    if (outcome !== 'printed') {
      throw new Error(`server did not print ${pattern}; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
    }
  }

  /** Polls GET /health/ready until it answers 200 (Redis connected, worker running). */
  async untilReady(timeoutMs = 10_000): Promise<void> {
    await eventually(
      async () =>
        (await this.fetch('/health/ready').then(
          (r) => r.status,
          () => 0,
        )) === 200
          ? true
          : undefined,
      timeoutMs,
      `the server to be ready within ${timeoutMs} ms`,
    );
  }

  fetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.url}${path}`, init);
  }

  /** POST /api/dm-jobqueue/register with a JSON body (a string is sent as it is). */
  register(body: unknown = {}, headers: Record<string, string> = bearer()): Promise<Response> {
    return this.fetch('/api/dm-jobqueue/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  /** Job lines (SPEC 5.3) printed so far that end with `message` (escaped as printed). */
  printed(message: string): string[] {
    return this.jobLines.filter((line) => line.endsWith(`] ${message}`));
  }

  /** Sends `signal` and waits for the exit, failing if it takes longer than `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`server did not exit within ${timeoutMs} ms after ${signal}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      if (this.tty) process.kill(-this.child.pid!, 'SIGKILL');
      else this.child.kill('SIGKILL');
    }
    return this.exited;
  }
}
