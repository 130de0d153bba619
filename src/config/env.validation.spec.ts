import { ConfigValidationError, DEVELOPMENT_JWT_SECRET, validateEnv } from './env.validation';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes';

/** Runs validateEnv and returns what it threw, failing the test when it did not throw. */
function rejectionOf(raw: Record<string, unknown>): ConfigValidationError {
  try {
    validateEnv(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigValidationError);
    return error as ConfigValidationError;
  }
  throw new Error(`validateEnv accepted ${JSON.stringify(raw)}`);
}

describe('validateEnv', () => {
  it('should apply the documented defaults when nothing is set', () => {
    const env = validateEnv({});

    expect(env).toMatchObject({
      APP_ENV: 'develop',
      PORT: 8080,
      REDIS_URL: 'redis://127.0.0.1:6379',
      JWT_SECRET: DEVELOPMENT_JWT_SECRET,
      JWT_ISSUER: 'go-webdb-template',
      JWT_REVOKED_VERSIONS: 'v1',
      JWT_CACHE_SIZE: 10_000,
      JOB_MAX_DELAY_SECONDS: 2_592_000,
      JOB_MAX_RETRY: 100,
      JOB_MESSAGE_MAX_LENGTH: 10_000,
      SHUTDOWN_TIMEOUT_MS: 10_000,
      HTTP_REQUEST_TIMEOUT_MS: 30_000,
      TENANT_MAX_PENDING_JOBS: 100_000,
      WORKER_CONCURRENCY: 10,
      QUEUE_PREFIX: '{dm-jobqueue}',
      RATE_LIMIT_PER_MINUTE: 600,
      CORS_ORIGINS: [],
      LOG_LEVEL: 'info',
      METRICS_ENABLED: true,
      DOCS_ENABLED: true,
      DASHBOARD_READ_ONLY: true,
    });
  });

  it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])('should accept LOG_LEVEL=%s', (level) => {
    expect(validateEnv({ LOG_LEVEL: level }).LOG_LEVEL).toBe(level);
  });

  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    [' False ', false],
    ['0', false],
    ['off', false],
  ])('should read METRICS_ENABLED=%j as %s', (value, expected) => {
    expect(validateEnv({ METRICS_ENABLED: value }).METRICS_ENABLED).toBe(expected);
  });

  it.each([
    ['true', true],
    ['FALSE', false],
    ['off', false],
  ])('should read DOCS_ENABLED=%j as %s', (value, expected) => {
    expect(validateEnv({ DOCS_ENABLED: value }).DOCS_ENABLED).toBe(expected);
  });

  it.each([
    ['true', true],
    ['false', false],
    ['0', false],
    ['No', false],
  ])('should read DASHBOARD_READ_ONLY=%j as %s', (value, expected) => {
    expect(validateEnv({ DASHBOARD_READ_ONLY: value }).DASHBOARD_READ_ONLY).toBe(expected);
  });

  it('should read HTTP_REQUEST_TIMEOUT_MS as milliseconds', () => {
    expect(validateEnv({ HTTP_REQUEST_TIMEOUT_MS: '1000' }).HTTP_REQUEST_TIMEOUT_MS).toBe(1_000);
  });

  it('should parse integer strings into numbers', () => {
    const env = validateEnv({
      PORT: '3000',
      JOB_MAX_DELAY_SECONDS: '60',
      JOB_MAX_RETRY: '0',
      JOB_MESSAGE_MAX_LENGTH: '5',
      SHUTDOWN_TIMEOUT_MS: '2500',
      WORKER_CONCURRENCY: '3',
      RATE_LIMIT_PER_MINUTE: '0',
    });

    expect(env.PORT).toBe(3000);
    expect(env.JOB_MAX_DELAY_SECONDS).toBe(60);
    expect(env.JOB_MAX_RETRY).toBe(0);
    expect(env.JOB_MESSAGE_MAX_LENGTH).toBe(5);
    expect(env.SHUTDOWN_TIMEOUT_MS).toBe(2500);
    expect(env.WORKER_CONCURRENCY).toBe(3);
    expect(env.RATE_LIMIT_PER_MINUTE).toBe(0);
  });

  it('should read CORS_ORIGINS as a list of origins, ignoring blanks around the commas', () => {
    const env = validateEnv({ CORS_ORIGINS: ' https://a.example, http://localhost:3000 ,' });

    expect(env.CORS_ORIGINS).toEqual(['https://a.example', 'http://localhost:3000']);
  });

  it.each(['', ' ', ','])('should turn CORS off when CORS_ORIGINS is %j', (value) => {
    expect(validateEnv({ CORS_ORIGINS: value }).CORS_ORIGINS).toEqual([]);
  });

  it('should keep string variables as given', () => {
    const env = validateEnv({
      APP_ENV: 'staging',
      REDIS_URL: 'rediss://:p%40ss@redis.example:6380/2',
      JWT_SECRET: SECRET,
      JWT_ISSUER: 'issuer-x',
      JWT_REVOKED_VERSIONS: 'v1,v2',
      QUEUE_PREFIX: '{jobs-staging}',
    });

    expect(env).toMatchObject({
      QUEUE_PREFIX: '{jobs-staging}',
      APP_ENV: 'staging',
      REDIS_URL: 'rediss://:p%40ss@redis.example:6380/2',
      JWT_SECRET: SECRET,
      JWT_ISSUER: 'issuer-x',
      JWT_REVOKED_VERSIONS: 'v1,v2',
    });
  });

  it('should treat an empty string as unset', () => {
    const env = validateEnv({
      PORT: '',
      APP_ENV: '',
      REDIS_URL: '',
      JWT_SECRET: '',
      JWT_ISSUER: '',
      JOB_MAX_RETRY: '',
    });

    expect(env.PORT).toBe(8080);
    expect(env.APP_ENV).toBe('develop');
    expect(env.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(env.JWT_SECRET).toBe(DEVELOPMENT_JWT_SECRET);
    expect(env.JWT_ISSUER).toBe('go-webdb-template');
    expect(env.JOB_MAX_RETRY).toBe(100);
  });

  it.each([
    [{ PORT: 'abc' }, 'Invalid configuration: PORT must be an integer number'],
    [{ PORT: '10abc' }, 'Invalid configuration: PORT must be an integer number'],
    [{ PORT: '1e3' }, 'Invalid configuration: PORT must be an integer number'],
    [{ PORT: '8080.5' }, 'Invalid configuration: PORT must be an integer number'],
    [{ PORT: '70000' }, 'Invalid configuration: PORT must not be greater than 65535'],
    [
      { APP_ENV: 'prod' },
      'Invalid configuration: APP_ENV must be one of the following values: develop, test, staging, production',
    ],
    [{ REDIS_URL: 'http://x' }, 'Invalid configuration: REDIS_URL must be a redis:// or rediss:// URL'],
    [{ JWT_SECRET: 'x'.repeat(31) }, 'Invalid configuration: JWT_SECRET must be at least 32 bytes long'],
    [{ JOB_MAX_RETRY: '-1' }, 'Invalid configuration: JOB_MAX_RETRY must not be less than 0'],
    [{ JOB_MAX_DELAY_SECONDS: '10abc' }, 'Invalid configuration: JOB_MAX_DELAY_SECONDS must be an integer number'],
    [{ JOB_MESSAGE_MAX_LENGTH: '0' }, 'Invalid configuration: JOB_MESSAGE_MAX_LENGTH must not be less than 1'],
    [{ WORKER_CONCURRENCY: '0' }, 'Invalid configuration: WORKER_CONCURRENCY must not be less than 1'],
    [{ HTTP_REQUEST_TIMEOUT_MS: '0' }, 'Invalid configuration: HTTP_REQUEST_TIMEOUT_MS must not be less than 100'],
    [{ TENANT_MAX_PENDING_JOBS: '-1' }, 'Invalid configuration: TENANT_MAX_PENDING_JOBS must not be less than 0'],
    [{ TENANT_MAX_PENDING_JOBS: 'lots' }, 'Invalid configuration: TENANT_MAX_PENDING_JOBS must be an integer number'],
    [{ HTTP_REQUEST_TIMEOUT_MS: '30s' }, 'Invalid configuration: HTTP_REQUEST_TIMEOUT_MS must be an integer number'],
    [{ QUEUE_PREFIX: 'dm-jobqueue' }, 'Invalid configuration: QUEUE_PREFIX must be a hash tag such as {dm-jobqueue}'],
    [{ RATE_LIMIT_PER_MINUTE: '-1' }, 'Invalid configuration: RATE_LIMIT_PER_MINUTE must not be less than 0'],
    [{ JWT_CACHE_SIZE: '-1' }, 'Invalid configuration: JWT_CACHE_SIZE must not be less than 0'],
    [{ RATE_LIMIT_PER_MINUTE: '10/s' }, 'Invalid configuration: RATE_LIMIT_PER_MINUTE must be an integer number'],
    [
      { LOG_LEVEL: 'verbose' },
      'Invalid configuration: LOG_LEVEL must be one of the following values: fatal, error, warn, info, debug, trace, silent',
    ],
    [{ METRICS_ENABLED: 'maybe' }, 'Invalid configuration: METRICS_ENABLED must be true or false'],
    [{ DOCS_ENABLED: 'maybe' }, 'Invalid configuration: DOCS_ENABLED must be true or false'],
    [{ DASHBOARD_READ_ONLY: 'never' }, 'Invalid configuration: DASHBOARD_READ_ONLY must be true or false'],
    [
      { CORS_ORIGINS: 'https://a.example,https://b.example/app' },
      'Invalid configuration: CORS_ORIGINS must be a comma list of origins such as https://app.example (http or https, no path, no trailing slash): "https://b.example/app" is not one',
    ],
    [
      { CORS_ORIGINS: '*' },
      'Invalid configuration: CORS_ORIGINS must be a comma list of origins such as https://app.example (http or https, no path, no trailing slash): "*" is not one',
    ],
  ])('should refuse %j with one line naming the variable', (raw, message) => {
    const error = rejectionOf(raw);

    expect(error.name).toBe('ConfigValidationError');
    expect(error.message).toBe(message);
    expect(error.message).not.toMatch(/[\r\n]/);
  });

  it('should name every invalid variable on the same single line', () => {
    const error = rejectionOf({ PORT: 'abc', JOB_MAX_RETRY: 'x' });

    expect(error.message).toBe(
      'Invalid configuration: PORT must be an integer number; JOB_MAX_RETRY must be an integer number',
    );
  });

  it('should not repeat a too-short secret in the error message', () => {
    const error = rejectionOf({ JWT_SECRET: 'my-short-secret' });

    expect(error.message).not.toContain('my-short-secret');
  });

  it('should accept a secret of exactly 32 bytes', () => {
    expect(validateEnv({ JWT_SECRET: 'x'.repeat(32) }).JWT_SECRET).toBe('x'.repeat(32));
  });

  it('should count JWT_SECRET in bytes, so 16 two-byte characters are enough', () => {
    expect(validateEnv({ JWT_SECRET: 'é'.repeat(16) }).JWT_SECRET).toBe('é'.repeat(16));
    expect(() => validateEnv({ JWT_SECRET: 'é'.repeat(15) })).toThrow('JWT_SECRET must be at least 32 bytes long');
  });

  it.each(['develop', 'test'])('should default JWT_SECRET to the development secret when APP_ENV is %s', (appEnv) => {
    expect(validateEnv({ APP_ENV: appEnv }).JWT_SECRET).toBe(DEVELOPMENT_JWT_SECRET);
  });

  it.each(['staging', 'production'])('should require JWT_SECRET when APP_ENV is %s', (appEnv) => {
    const error = rejectionOf({ APP_ENV: appEnv });

    expect(error.message).toBe(`Invalid configuration: JWT_SECRET is required when APP_ENV is ${appEnv}`);
  });

  it('should require JWT_SECRET in production when it is set to an empty string', () => {
    const error = rejectionOf({ APP_ENV: 'production', JWT_SECRET: '' });

    expect(error.message).toBe('Invalid configuration: JWT_SECRET is required when APP_ENV is production');
  });

  it.each(['staging', 'production'])('should refuse the development secret when APP_ENV is %s', (appEnv) => {
    const error = rejectionOf({ APP_ENV: appEnv, JWT_SECRET: DEVELOPMENT_JWT_SECRET });

    expect(error.message).toBe(
      'Invalid configuration: JWT_SECRET must not be the development secret outside develop and test',
    );
  });

  it('should accept an explicit secret in production', () => {
    const env = validateEnv({ APP_ENV: 'production', JWT_SECRET: SECRET });

    expect(env.APP_ENV).toBe('production');
    expect(env.JWT_SECRET).toBe(SECRET);
  });
});

describe('validateEnv: queue dashboard credentials', () => {
  const PASSWORD = 'a-long-password-123';
  const failure = (raw: Record<string, string>): string => {
    try {
      validateEnv(raw);
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error('expected validateEnv to throw');
  };

  it('should leave the dashboard off by default', () => {
    const env = validateEnv({});

    expect(env.DASHBOARD_USER).toBeUndefined();
    expect(env.DASHBOARD_PASSWORD).toBeUndefined();
  });

  it('should accept both credentials', () => {
    const env = validateEnv({ DASHBOARD_USER: 'admin', DASHBOARD_PASSWORD: PASSWORD });

    expect(env.DASHBOARD_USER).toBe('admin');
    expect(env.DASHBOARD_PASSWORD).toBe(PASSWORD);
  });

  it('should name the missing password when only the user is set', () => {
    expect(failure({ DASHBOARD_USER: 'admin' })).toBe(
      'Invalid configuration: DASHBOARD_PASSWORD is required when DASHBOARD_USER is set',
    );
  });

  it('should name the missing user when only the password is set (an empty user counts as unset)', () => {
    expect(failure({ DASHBOARD_USER: '', DASHBOARD_PASSWORD: PASSWORD })).toBe(
      'Invalid configuration: DASHBOARD_USER is required when DASHBOARD_PASSWORD is set',
    );
  });

  it('should refuse a password shorter than 12 characters without repeating it', () => {
    const message = failure({ DASHBOARD_USER: 'admin', DASHBOARD_PASSWORD: 'short-pw-11' });

    expect(message).toBe('Invalid configuration: DASHBOARD_PASSWORD must be at least 12 characters long');
    expect(message).not.toContain('short-pw-11');
  });

  it('should refuse a user containing a colon (Basic authentication could never match it)', () => {
    expect(failure({ DASHBOARD_USER: 'ad:min', DASHBOARD_PASSWORD: PASSWORD })).toBe(
      'Invalid configuration: DASHBOARD_USER must not contain a colon',
    );
  });
});

describe('validateEnv: Redis Sentinel', () => {
  const SENTINELS = '10.0.0.1:26379,10.0.0.2:26379,[::1]:26380';
  const failure = (raw: Record<string, string>): string => rejectionOf({ JWT_SECRET: SECRET, ...raw }).message;

  it('should accept the sentinels with the master name and an optional sentinel password', () => {
    const env = validateEnv({
      REDIS_SENTINELS: SENTINELS,
      REDIS_SENTINEL_MASTER: 'jobs-primary',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
    });

    expect(env).toMatchObject({
      REDIS_SENTINELS: SENTINELS,
      REDIS_SENTINEL_MASTER: 'jobs-primary',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
    });
  });

  it('should leave Sentinel off by default', () => {
    const env = validateEnv({});

    expect([env.REDIS_SENTINELS, env.REDIS_SENTINEL_MASTER, env.REDIS_SENTINEL_PASSWORD]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it.each([
    [
      { REDIS_SENTINELS: SENTINELS },
      'Invalid configuration: REDIS_SENTINEL_MASTER is required when REDIS_SENTINELS is set',
    ],
    [
      { REDIS_SENTINEL_MASTER: 'jobs-primary' },
      'Invalid configuration: REDIS_SENTINELS is required when REDIS_SENTINEL_MASTER is set',
    ],
    [
      { REDIS_SENTINEL_PASSWORD: 'sentinel-secret' },
      'Invalid configuration: REDIS_SENTINELS is required when REDIS_SENTINEL_PASSWORD is set',
    ],
    [
      { REDIS_SENTINELS: '10.0.0.1', REDIS_SENTINEL_MASTER: 'jobs-primary' },
      'Invalid configuration: REDIS_SENTINELS must be a comma list of host:port',
    ],
    [
      { REDIS_SENTINELS: SENTINELS, REDIS_SENTINEL_MASTER: 'jobs primary' },
      'Invalid configuration: REDIS_SENTINEL_MASTER must be a name without spaces',
    ],
    [
      { REDIS_SENTINELS: SENTINELS, REDIS_SENTINEL_MASTER: 'jobs-primary', REDIS_CLUSTER_NODES: '10.0.0.1:6379' },
      'Invalid configuration: REDIS_SENTINELS and REDIS_CLUSTER_NODES exclude each other (Sentinel or a cluster)',
    ],
  ])('should refuse %j', (raw, message) => {
    expect(failure(raw)).toBe(message);
  });

  it('should not repeat the sentinel password in an error', () => {
    const message = failure({ REDIS_SENTINEL_PASSWORD: 'sentinel-secret' });

    expect(message).not.toContain('sentinel-secret');
  });
});
