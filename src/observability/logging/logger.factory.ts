// The process's one pino logger: level, redaction, and where lines go (JSON on stdout; pretty in develop).
import pino, { DestinationStream, Logger } from 'pino';
import type { AppEnv, LogLevel } from '../../config/env.validation';

/**
 * Never written, whatever a log call is given: credentials in headers and any token, password or secret
 * field, at the top level or one level down.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'cookie',
  'token',
  'password',
  'secret',
  '*.authorization',
  '*.token',
  '*.password',
  '*.secret',
];

function prettyInstalled(): boolean {
  try {
    require.resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/** Log lines are gathered up to this many bytes and then written with one system call… */
export const LOG_BUFFER_BYTES = 4_096;
/** …and written at least this often, so the lines of a quiet service still show up straight away. */
export const LOG_FLUSH_INTERVAL_MS = 250;

let stdout: ReturnType<typeof pino.destination> | undefined;

/**
 * Standard output for JSON lines, one per process (nestjs-pino keeps the first root logger anyway). Written
 * synchronously, as pino's default destination does, but buffered as pino's asynchronous mode does: one
 * write(2) per LOG_BUFFER_BYTES of lines instead of one per line. Not `sync: false`: that hands every write to
 * libuv's thread pool, a futex wake-up and a thread switch each time, a sizeable share of the register path's
 * CPU under load (`bench/README.md`). Written out every LOG_FLUSH_INTERVAL_MS and when the
 * process exits (pino registers no exit flush for a synchronous destination); a SIGKILL loses at most the
 * lines of the last LOG_FLUSH_INTERVAL_MS.
 */
export function bufferedStdout(): DestinationStream {
  if (stdout) return stdout;
  const destination = pino.destination({ dest: 1, sync: true, minLength: LOG_BUFFER_BYTES });
  // flush(), not flushSync(): on a synchronous destination both write at once, but sonic-boom's flushSync retries
  // any failed write every 100 ms for ever, so with standard output gone (EPIPE: the log collector went away) it
  // froze the process. flush() reports the error, and pino's destination then drops the lines that follow.
  const flush = (): void => {
    try {
      destination.flush();
    } catch {
      // Standard output is closed: there is nowhere left to write the lines to.
    }
  };
  setInterval(flush, LOG_FLUSH_INTERVAL_MS).unref();
  process.once('exit', flush);
  return (stdout = destination);
}

/**
 * pino-pretty's options in develop. `levelFirst`: a log line starts with its level (`INFO [2026-01-02
 * 12:34:56.789]: …`), so it is never mistaken for a job line, which starts with `[` (SPEC 5.3).
 */
export const PRETTY_OPTIONS = {
  levelFirst: true,
  translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
  ignore: 'pid,hostname,context',
  messageFormat: '{if context}[{context}] {end}{msg}',
  singleLine: true,
} as const;

/**
 * develop: readable lines through pino-pretty (a devDependency, in a worker thread), when installed.
 * Everywhere else JSON on standard output, buffered (`bufferedStdout`).
 */
export function logDestination(appEnv: AppEnv): DestinationStream {
  if (appEnv === 'develop' && prettyInstalled()) {
    return pino.transport({ target: 'pino-pretty', options: PRETTY_OPTIONS });
  }
  return bufferedStdout();
}

/**
 * pino's `stdTimeFunctions.isoTime`, worked out once per millisecond: under load several lines fall in each
 * millisecond (an access line per request), and formatting the date was about a ninth of what writing one
 * cost in the benchmark's profile.
 */
export function isoTimeEachMillisecond(now: () => number = Date.now): () => string {
  let last = Number.NaN;
  let time = '';
  return () => {
    const ms = now();
    if (ms !== last) {
      last = ms;
      time = `,"time":"${new Date(ms).toISOString()}"`;
    }
    return time;
  };
}

/**
 * `mixin`: fields added to every line (the trace and span it was written in, while tracing is on: `traceFields`).
 */
export function createRootLogger(
  level: LogLevel,
  destination: DestinationStream,
  mixin?: () => Record<string, unknown>,
): Logger {
  return pino(
    {
      level,
      ...(mixin && { mixin }),
      redact: { paths: REDACTED_PATHS, censor: '[Redacted]' },
      timestamp: isoTimeEachMillisecond(),
      // "level":"info" rather than 30: readable, and what most log pipelines expect.
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
