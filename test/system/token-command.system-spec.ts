// `npm run token` as a user runs it: a token on stdout and nothing else, or one line and the usage (exit 2).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { verify } from 'jsonwebtoken';
import { hmacKey } from '../../src/auth/token';

jest.setTimeout(60_000);

const ROOT = join(__dirname, '..', '..');
const SECRET = 'token-command-spec-secret-of-more-than-32-bytes';

function token(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('npm', ['run', '--silent', 'token', '--', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    // An explicit environment, so that a developer's .env or variables cannot change the outcome.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', APP_ENV: 'test', JWT_SECRET: SECRET },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('npm run token', () => {
  it('should print one token with the scopes asked for, and nothing else', () => {
    const result = token('--sub', 'ops', '--scope', 'read,write,admin', '--expires-in', '2h');

    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const claims = verify(result.stdout.trim(), hmacKey(SECRET), { algorithms: ['HS256'] }) as Record<string, unknown>;
    expect(claims).toMatchObject({ sub: 'ops', scope: ['read', 'write', 'admin'], env: 'test' });
    expect((claims.exp as number) - (claims.iat as number)).toBe(7_200);
  });

  it.each([
    [['--bogus', 'x'], "token: Unknown option '--bogus'"],
    [['--expires-in', '5x'], 'token: --expires-in takes 3600, 90d, 12h, … or never, not "5x"'],
    [['--scope', 'read,owner'], 'token: unknown scope owner (allowed: read, write, admin)'],
  ])('should answer %j with one line and the usage, exit 2, no stack', (args, line) => {
    const result = token(...args);

    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')).toEqual([line, expect.stringMatching(/^usage: npm run --silent token -- /), '']);
  });
});
