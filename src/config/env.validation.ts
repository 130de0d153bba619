// Validates the environment once at start-up; a bad value stops the process with one line naming it.
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsByteLength,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
  ValidateBy,
  ValidationError,
} from 'class-validator';
import { isHttpOrigin, splitList } from '../http/cors';

export const APP_ENVS = ['develop', 'test', 'staging', 'production'] as const;
export type AppEnv = (typeof APP_ENVS)[number];
/** all: API and worker in one process; api: takes requests, runs no job; worker: runs jobs, serves health. */
export const APP_ROLES = ['all', 'api', 'worker'] as const;
export type AppRole = (typeof APP_ROLES)[number];

/** pino's levels, most severe first; `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Used only when APP_ENV is develop or test; refused everywhere else. */
export const DEVELOPMENT_JWT_SECRET = 'dm-jobqueue-development-secret-do-not-use-in-production';

/** Thrown for any invalid variable; main.ts prints its message (one line) and exits non-zero. */
export class ConfigValidationError extends Error {
  override readonly name = 'ConfigValidationError';
}

/** "host:port,host:port" (a host may be a bracketed IPv6 address). */
const HOST_PORT_LIST = /^[^\s,]+:\d{1,5}(,[^\s,]+:\d{1,5})*$/;

// Environment values are strings; integers are parsed strictly ("10", not "10abc" or "1e3").
const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;

const int = (min: number, max = Number.MAX_SAFE_INTEGER): PropertyDecorator => {
  const decorators = [Transform(toInt), IsOptional(), IsInt(), Min(min), Max(max)];
  return (target, key) => decorators.forEach((decorate) => decorate(target, key));
};

// A switch: true/false (also 1/0, yes/no, on/off, any case); anything else is refused, not read as false.
const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off'];
const toBool = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const word = value.trim().toLowerCase();
  return TRUE.includes(word) ? true : FALSE.includes(word) ? false : value;
};

const bool = (): PropertyDecorator => {
  const decorators = [
    Transform(toBool),
    IsOptional(),
    ValidateBy({
      name: 'isSwitch',
      validator: {
        validate: (value: unknown) => typeof value === 'boolean',
        defaultMessage: (args) => `${args?.property} must be true or false`,
      },
    }),
  ];
  return (target, key) => decorators.forEach((decorate) => decorate(target, key));
};

// CORS_ORIGINS: a comma list becomes an array; each entry must be an origin as a browser sends it.
const originList = (): PropertyDecorator => {
  const decorators = [
    Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? splitList(value) : value)),
    ValidateBy({
      name: 'isOriginList',
      validator: {
        validate: (value: unknown) =>
          Array.isArray(value) && value.every((item) => typeof item === 'string' && isHttpOrigin(item)),
        defaultMessage: (args) => {
          const value = args?.value as unknown;
          const bad: unknown = Array.isArray(value)
            ? value.find((item) => typeof item !== 'string' || !isHttpOrigin(item))
            : value;
          return `CORS_ORIGINS must be a comma list of origins such as https://app.example (http or https, no path, no trailing slash): ${JSON.stringify(bad)} is not one`;
        },
      },
    }),
  ];
  return (target, key) => decorators.forEach((decorate) => decorate(target, key));
};

export class EnvironmentVariables {
  @IsOptional()
  @IsIn(APP_ENVS)
  APP_ENV: AppEnv = 'develop';

  @IsOptional()
  @IsIn(APP_ROLES)
  APP_ROLE: AppRole = 'all';

  @int(0, 65535)
  PORT = 8080;

  @IsOptional()
  @IsString()
  HOST = '0.0.0.0';

  @IsOptional()
  @Matches(/^rediss?:\/\/[^\s]+$/, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL = 'redis://127.0.0.1:6379';

  /** "host:port,host:port": a Redis Cluster; REDIS_URL then only gives the password and TLS. */
  @IsOptional()
  @Matches(HOST_PORT_LIST, { message: 'REDIS_CLUSTER_NODES must be a comma list of host:port' })
  REDIS_CLUSTER_NODES?: string;

  /**
   * "host:port,host:port": Redis Sentinels, asked for REDIS_SENTINEL_MASTER's primary by every connection; REDIS_URL
   * then only gives the data nodes' password, database and TLS.
   */
  @IsOptional()
  @Matches(HOST_PORT_LIST, { message: 'REDIS_SENTINELS must be a comma list of host:port' })
  REDIS_SENTINELS?: string;

  /** The name the sentinels monitor the primary under (`sentinel monitor <name> …`). */
  @IsOptional()
  @Matches(/^[^\s]{1,255}$/, { message: 'REDIS_SENTINEL_MASTER must be a name without spaces' })
  REDIS_SENTINEL_MASTER?: string;

  /** The sentinels' own password (`requirepass` in sentinel.conf), when they have one. */
  @IsOptional()
  @IsString()
  REDIS_SENTINEL_PASSWORD?: string;

  @IsOptional()
  @IsString()
  @IsByteLength(32, undefined, { message: 'JWT_SECRET must be at least 32 bytes long' })
  JWT_SECRET?: string;

  @IsOptional()
  @IsString()
  @MinLength(1)
  JWT_ISSUER = 'go-webdb-template';

  @IsOptional()
  @IsString()
  JWT_REVOKED_VERSIONS = 'v1';

  /** Verified tokens each process remembers, so a client's next request skips verification; 0 keeps none. */
  @int(0, 1_000_000)
  JWT_CACHE_SIZE = 10_000;

  /** Key prefix of the queue; keep the braces (a Redis Cluster hash tag) when changing it. */
  @IsOptional()
  @Matches(/^\{[^{}\s]+\}$/, { message: 'QUEUE_PREFIX must be a hash tag such as {dm-jobqueue}' })
  QUEUE_PREFIX = '{dm-jobqueue}';

  @int(0)
  JOB_MAX_DELAY_SECONDS = 2_592_000;

  @int(0)
  JOB_MAX_RETRY = 100;

  @int(1)
  JOB_MESSAGE_MAX_LENGTH = 10_000;

  @int(0)
  JOB_BACKOFF_MS = 1_000;

  /** Jobs one tenant (token `sub`) may have that have not started (delayed, waiting, retry due); 0: no limit. */
  @int(0)
  TENANT_MAX_PENDING_JOBS = 100_000;

  /** Live recurring schedules one tenant may have (SPEC 6.5); 0: no limit. */
  @int(0)
  TENANT_MAX_SCHEDULES = 100;

  /** The least time between two occurrences of a schedule, for every_seconds and cron alike. */
  @int(1, 86_400)
  SCHEDULE_MIN_INTERVAL_SECONDS = 60;

  @int(0)
  JOB_KEEP_COMPLETED_SECONDS = 86_400;

  @int(0)
  JOB_KEEP_COMPLETED_COUNT = 1_000;

  @int(0)
  JOB_KEEP_FAILED_SECONDS = 604_800;

  @int(0)
  JOB_KEEP_FAILED_COUNT = 10_000;

  @int(1, 1_000)
  WORKER_CONCURRENCY = 10;

  @int(100)
  WORKER_LOCK_DURATION_MS = 30_000;

  @int(100)
  WORKER_STALLED_INTERVAL_MS = 30_000;

  /**
   * Readiness fails when the worker has free slots but its fetch loop has shown no sign of life for this long (a wedged
   * loop, say after a reconnect); an idle worker shows one at least every 11 s.
   */
  @int(15_000)
  WORKER_FETCH_STALL_MS = 30_000;

  @int(10, 60_000)
  REDIS_TIMEOUT_MS = 500;

  @int(1_024, 64 * 1_024 * 1_024)
  BODY_LIMIT_BYTES = 131_072;

  /** Largest body of POST /api/dm-jobqueue/register/batch (its own limit: a batch holds many jobs). */
  @int(1_024, 256 * 1_024 * 1_024)
  BATCH_BODY_LIMIT_BYTES = 8 * 1_024 * 1_024;

  /** Most jobs one POST /api/dm-jobqueue/register/batch may hold. */
  @int(1, 100_000)
  JOB_BATCH_MAX_SIZE = 1_000;

  @int(0)
  SHUTDOWN_TIMEOUT_MS = 10_000;

  /** Longest a request's headers and body may take to arrive: then 408 and the connection closed. */
  @int(100, 3_600_000)
  HTTP_REQUEST_TIMEOUT_MS = 30_000;

  /** Requests a minute per client (bearer token, else address), per process; 0 turns limiting off. */
  @int(0)
  RATE_LIMIT_PER_MINUTE = 600;

  /** Browser origins allowed by CORS; empty (the default) turns CORS off. */
  @originList()
  CORS_ORIGINS: string[] = [];

  /** Least severe level written (application and access logs); the job line of SPEC 5.3 is not a log. */
  @IsOptional()
  @IsIn(LOG_LEVELS)
  LOG_LEVEL: LogLevel = 'info';

  /** GET /metrics (Prometheus) and the HTTP duration histogram; false answers /metrics with 404. */
  @bool()
  METRICS_ENABLED = true;

  /** The OpenAPI document at /docs-json and its UI at /docs (no token); false answers both with 404. */
  @bool()
  DOCS_ENABLED = true;

  /** Queue dashboard (bull-board) at /admin/queues: on only when both are set; HTTP Basic with these. */
  @IsOptional()
  @IsString()
  @Matches(/^[^:]+$/, { message: 'DASHBOARD_USER must not contain a colon' })
  DASHBOARD_USER?: string;

  @IsOptional()
  @IsString()
  @MinLength(12, { message: 'DASHBOARD_PASSWORD must be at least 12 characters long' })
  DASHBOARD_PASSWORD?: string;

  /** The dashboard only shows the queue; false lets operators retry, promote, clean and pause through it. */
  @bool()
  DASHBOARD_READ_ONLY = true;
}

export type Env = EnvironmentVariables & { JWT_SECRET: string };

function describe(errors: ValidationError[]): string {
  return errors
    .map((error) => {
      const first = Object.values(error.constraints ?? {})[0] ?? 'is invalid';
      // class-validator messages start with the property name already.
      return first.startsWith(error.property) ? first : `${error.property} ${first}`;
    })
    .join('; ');
}

/** Settings that only work together: one alone is a mistake, not a way to turn the feature off. */
function requireBoth(env: EnvironmentVariables, a: keyof EnvironmentVariables, b: keyof EnvironmentVariables): void {
  if ((env[a] === undefined) === (env[b] === undefined)) return;
  const [missing, other] = env[a] === undefined ? [a, b] : [b, a];
  throw new ConfigValidationError(`Invalid configuration: ${missing} is required when ${other} is set`);
}

/** ConfigModule's `validate` hook: returns the typed, defaulted environment or throws one readable line. */
export function validateEnv(raw: Record<string, unknown>): Env {
  // Empty strings mean "not set", as in most .env files.
  const present = Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== ''));
  const env = plainToInstance(EnvironmentVariables, present, { exposeDefaultValues: true });
  const errors = validateSync(env, { skipMissingProperties: false, forbidUnknownValues: false });
  if (errors.length > 0) {
    throw new ConfigValidationError(`Invalid configuration: ${describe(errors)}`);
  }
  // The dashboard needs both or neither; Sentinel discovery both the sentinels and the name they know the primary by.
  requireBoth(env, 'DASHBOARD_USER', 'DASHBOARD_PASSWORD');
  requireBoth(env, 'REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER');
  if (env.REDIS_SENTINEL_PASSWORD !== undefined && env.REDIS_SENTINELS === undefined) {
    throw new ConfigValidationError(
      'Invalid configuration: REDIS_SENTINELS is required when REDIS_SENTINEL_PASSWORD is set',
    );
  }
  if (env.REDIS_SENTINELS !== undefined && env.REDIS_CLUSTER_NODES !== undefined) {
    throw new ConfigValidationError(
      'Invalid configuration: REDIS_SENTINELS and REDIS_CLUSTER_NODES exclude each other (Sentinel or a cluster)',
    );
  }
  if (env.JWT_SECRET === undefined) {
    if (env.APP_ENV !== 'develop' && env.APP_ENV !== 'test') {
      throw new ConfigValidationError(`Invalid configuration: JWT_SECRET is required when APP_ENV is ${env.APP_ENV}`);
    }
    env.JWT_SECRET = DEVELOPMENT_JWT_SECRET;
  } else if (env.JWT_SECRET === DEVELOPMENT_JWT_SECRET && env.APP_ENV !== 'develop' && env.APP_ENV !== 'test') {
    throw new ConfigValidationError(
      'Invalid configuration: JWT_SECRET must not be the development secret outside develop and test',
    );
  }
  return env as Env;
}
