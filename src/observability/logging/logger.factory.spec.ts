import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import pino from 'pino';
import { prettyFactory } from 'pino-pretty';
import { formatJobLine } from '../../jobs/worker/job-line';
import { createRootLogger, isoTimeEachMillisecond, LOG_FLUSH_INTERVAL_MS, PRETTY_OPTIONS } from './logger.factory';

/** A destination that keeps every line pino writes. */
function memory(): { stream: Writable; lines: () => Record<string, unknown>[]; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return {
    stream,
    text: () => text,
    lines: () =>
      text
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
  };
}

const BEARER = 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';

describe('createRootLogger', () => {
  it('should write one JSON line with a level label, an ISO time and the message', () => {
    const out = memory();
    createRootLogger('info', out.stream).info({ context: 'Bootstrap' }, 'Listening on http://127.0.0.1:8080');

    const [line] = out.lines();
    expect(line).toMatchObject({ level: 'info', context: 'Bootstrap', msg: 'Listening on http://127.0.0.1:8080' });
    expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('should write nothing below its level', () => {
    const out = memory();
    const logger = createRootLogger('warn', out.stream);
    logger.info('hidden');
    logger.debug('hidden');
    logger.warn('shown');

    expect(out.lines().map((line) => line.msg)).toEqual(['shown']);
  });

  it('should never write an Authorization header, a cookie, or a token, password or secret field', () => {
    const out = memory();
    const logger = createRootLogger('trace', out.stream);

    logger.info(
      { req: { method: 'POST', headers: { authorization: BEARER, cookie: 'session=s3cr3t-cookie' } } },
      'request',
    );
    logger.info({ headers: { authorization: BEARER, cookie: 'session=s3cr3t-cookie' } }, 'headers');
    logger.info({ authorization: BEARER, token: 'tok-123', password: 'pw-123', secret: 'sec-123' }, 'top level');
    logger.info({ body: { token: 'tok-456', password: 'pw-456', secret: 'sec-456' } }, 'one level down');
    logger.child({ token: 'tok-789' }).info('bound');

    for (const leaked of ['eyJhbGciOiJIUzI1NiJ9', 's3cr3t-cookie', 'tok-', 'pw-', 'sec-'])
      expect(out.text()).not.toContain(leaked);
    const [request, headers, top, nested, bound] = out.lines();
    expect(request.req).toEqual({ method: 'POST', headers: { authorization: '[Redacted]', cookie: '[Redacted]' } });
    expect(headers.headers).toEqual({ authorization: '[Redacted]', cookie: '[Redacted]' });
    expect(top).toMatchObject({
      authorization: '[Redacted]',
      token: '[Redacted]',
      password: '[Redacted]',
      secret: '[Redacted]',
    });
    expect(nested.body).toEqual({ token: '[Redacted]', password: '[Redacted]', secret: '[Redacted]' });
    expect(bound.token).toBe('[Redacted]');
  });

  it('should be silenced by level silent', () => {
    const out = memory();
    const logger = createRootLogger('info', out.stream);
    logger.level = 'silent';
    logger.fatal('nothing');

    expect(out.text()).toBe('');
  });
});

describe('PRETTY_OPTIONS (APP_ENV=develop)', () => {
  const pretty = (colorize: boolean) => prettyFactory({ ...PRETTY_OPTIONS, colorize });
  const logLine = (level: string) =>
    JSON.stringify({
      level,
      time: '2026-01-02T03:34:56.123Z',
      pid: 42,
      hostname: 'h',
      context: 'Bootstrap',
      msg: 'Listening on x',
    });

  it('should start a log line with its level, never with the `[` a job line starts with', () => {
    for (const level of ['info', 'warn', 'error', 'debug']) {
      const line = pretty(false)(logLine(level));
      expect(line).toMatch(
        new RegExp(
          `^${level.toUpperCase()} \\[\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}\\.\\d{3}\\]: \\[Bootstrap\\] Listening on x\\n$`,
        ),
      );
      expect(line).not.toMatch(/^\[/);
    }
    // Colours only wrap the level in escape codes: still not a `[` first.
    // eslint-disable-next-line no-control-regex -- the escape codes are what is checked
    expect(pretty(true)(logLine('info'))).toMatch(/^\u001b\[\d+mINFO\u001b\[39m /);
  });

  it('should leave the job line as it is: `[YYYY-MM-DD HH:MM:SS] message`', () => {
    expect(formatJobLine('Hello, World!', new Date(2026, 0, 2, 12, 34, 56))).toBe(
      '[2026-01-02 12:34:56] Hello, World!',
    );
  });
});

describe('isoTimeEachMillisecond', () => {
  afterEach(() => jest.restoreAllMocks());

  it("should write exactly what pino's isoTime writes", () => {
    jest.spyOn(Date, 'now').mockReturnValue(Date.UTC(2026, 10, 30, 13, 0, 0, 123));

    expect(isoTimeEachMillisecond()()).toBe(pino.stdTimeFunctions.isoTime());
    expect(isoTimeEachMillisecond()()).toBe(',"time":"2026-11-30T13:00:00.123Z"');
  });

  it('should format each millisecond once', () => {
    let clock = Date.UTC(2026, 10, 30, 13, 0, 0, 123);
    const toISOString = jest.spyOn(Date.prototype, 'toISOString');
    const time = isoTimeEachMillisecond(() => clock);

    expect([time(), time()]).toEqual([',"time":"2026-11-30T13:00:00.123Z"', ',"time":"2026-11-30T13:00:00.123Z"']);
    expect(toISOString).toHaveBeenCalledTimes(1);
    clock += 1;
    expect(time()).toBe(',"time":"2026-11-30T13:00:00.124Z"');
    expect(toISOString).toHaveBeenCalledTimes(2);
  });
});

describe('bufferedStdout', () => {
  /** Runs `script` in a node process whose logger writes to bufferedStdout; what it printed, in order. */
  function run(script: string): string[] {
    const program = `
      const { writeSync } = require('node:fs');
      const { bufferedStdout, createRootLogger } = require(${JSON.stringify(require.resolve('./logger.factory'))});
      const logger = createRootLogger('info', bufferedStdout());
      const mark = (text) => writeSync(1, text + '\\n');
      ${script}`;
    const child = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', program], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(child.stderr).toBe('');
    return child.stdout
      .trim()
      .split('\n')
      .map((line) => (line.startsWith('{') ? (JSON.parse(line) as { msg: string }).msg : line));
  }

  it('should gather lines and write them together, not one write per line', () => {
    // Written straight to the descriptor after the three log calls, the mark still comes out first.
    expect(run(`logger.info('one'); logger.info('two'); logger.info('three'); mark('MARK');`)).toEqual([
      'MARK',
      'one',
      'two',
      'three',
    ]);
  });

  it('should write gathered lines within the flush interval though nothing else is logged', () => {
    // SIGKILL leaves no exit handler to write them: the interval must have.
    const wait = LOG_FLUSH_INTERVAL_MS * 3;
    expect(
      run(`logger.info('quiet'); setTimeout(() => { mark('MARK'); process.kill(process.pid, 'SIGKILL'); }, ${wait});`),
    ).toEqual(['quiet', 'MARK']);
  });

  it('should write what is left when the process exits', () => {
    expect(run(`logger.info('last words'); process.exit(0);`)).toEqual(['last words']);
  });
});
