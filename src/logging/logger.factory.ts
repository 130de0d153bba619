// The process's one pino logger: level, redaction, and where lines go (JSON on stdout; pretty in develop).
import pino, { DestinationStream, Logger } from 'pino';
import type { AppEnv, LogLevel } from '../config/env.validation';

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

/**
 * develop: readable lines through pino-pretty (a devDependency, in a worker thread), when installed.
 * Everywhere else JSON on standard output, written asynchronously and flushed when the process exits.
 */
export function logDestination(appEnv: AppEnv): DestinationStream {
  if (appEnv === 'develop' && prettyInstalled()) {
    return pino.transport({
      target: 'pino-pretty',
      options: {
        translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
        ignore: 'pid,hostname,context',
        messageFormat: '{if context}[{context}] {end}{msg}',
        singleLine: true,
      },
    });
  }
  return pino.destination({ dest: 1, sync: false });
}

export function createRootLogger(level: LogLevel, destination: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACTED_PATHS, censor: '[Redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // "level":"info" rather than 30: readable, and what most log pipelines expect.
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
