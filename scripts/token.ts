// `npm run token -- [--sub NAME] [--scope read,write[,admin]] [--expires-in 90d] [--type private] [--version v2]`
// Prints a bearer token signed with the configured JWT_SECRET and JWT_ISSUER, and nothing else on stdout.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { signToken, Scope, SCOPES, TOKEN_TYPES, TokenType } from '../src/auth/token';
import { ConfigValidationError, validateEnv } from '../src/config/env.validation';

const USAGE =
  'usage: npm run --silent token -- [--sub NAME] [--scope read,write[,admin]] [--expires-in 90d|never] ' +
  '[--type public|private] [--version v2] [--env develop]';

/** One line saying what is wrong, the usage, exit 2: never a stack trace for a mistyped option. */
function fail(message: string): never {
  process.stderr.write(`token: ${message}\n${USAGE}\n`);
  process.exit(2);
}

// jsonwebtoken's own units (vercel/ms): 3600, 90d, 12h, 30m, 2w, 1y, … (case-insensitive, optional space).
const DURATION =
  /^\d+(\.\d+)?\s*(ms|msecs?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?|y|yrs?|years?)?$/i;

const OPTIONS = {
  sub: { type: 'string', default: 'developer' },
  scope: { type: 'string', default: 'read,write' },
  'expires-in': { type: 'string', default: '90d' },
  type: { type: 'string', default: 'private' },
  version: { type: 'string', default: 'v2' },
  env: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseOptions() {
  try {
    return parseArgs({ options: OPTIONS });
  } catch (error) {
    // parseArgs's own message names the option ("Unknown option '--bogus'"), in its first line.
    fail((error as Error).message.split('\n')[0]);
  }
}

function main(): void {
  if (existsSync('.env')) process.loadEnvFile('.env'); // variables already set win, as in the server
  const { values } = parseOptions();
  if (values.help) {
    process.stderr.write(`${USAGE}\n`);
    return;
  }
  let env;
  try {
    env = validateEnv(process.env);
  } catch (error) {
    fail(error instanceof ConfigValidationError ? error.message : String(error));
  }
  const scope = values.scope
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  const unknown = scope.filter((item) => !(SCOPES as readonly string[]).includes(item));
  if (unknown.length > 0) fail(`unknown scope ${unknown.join(', ')} (allowed: ${SCOPES.join(', ')})`);
  if (!(TOKEN_TYPES as readonly string[]).includes(values.type))
    fail(`--type must be one of ${TOKEN_TYPES.join(', ')}`);
  const expiresIn = values['expires-in'];
  if (expiresIn !== 'never' && !DURATION.test(expiresIn))
    fail(`--expires-in takes 3600, 90d, 12h, … or never, not ${JSON.stringify(expiresIn)}`);

  const token = signToken({
    secret: env.JWT_SECRET,
    issuer: env.JWT_ISSUER,
    subject: values.sub,
    scope: scope as Scope[],
    type: values.type as TokenType,
    version: values.version,
    env: values.env ?? env.APP_ENV,
    expiresIn:
      expiresIn === 'never' ? undefined : /^\d+$/.test(expiresIn) ? Number(expiresIn) : (expiresIn as `${number}d`),
  });
  process.stdout.write(`${token}\n`);
}

main();
