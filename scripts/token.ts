// `npm run token -- [--sub NAME] [--scope read,write[,admin]] [--expires-in 90d] [--type private] [--version v2]`
// Prints a bearer token signed with the configured JWT_SECRET and JWT_ISSUER, and nothing else on stdout.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { signToken, Scope, SCOPES, TOKEN_TYPES, TokenType } from '../src/auth/token';
import { ConfigValidationError, validateEnv } from '../src/config/env.validation';

function fail(message: string): never {
  process.stderr.write(`token: ${message}\n`);
  process.exit(2);
}

function main(): void {
  if (existsSync('.env')) process.loadEnvFile('.env'); // variables already set win, as in the server
  const { values } = parseArgs({
    options: {
      sub: { type: 'string', default: 'developer' },
      scope: { type: 'string', default: 'read,write' },
      'expires-in': { type: 'string', default: '90d' },
      type: { type: 'string', default: 'private' },
      version: { type: 'string', default: 'v2' },
      env: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stderr.write(
      'usage: npm run --silent token -- [--sub NAME] [--scope read,write[,admin]] [--expires-in 90d|never] ' +
        '[--type public|private] [--version v2] [--env develop]\n',
    );
    return;
  }
  let env;
  try {
    env = validateEnv(process.env);
  } catch (error) {
    fail(error instanceof ConfigValidationError ? error.message : String(error));
  }
  const scope = values.scope.split(',').map((item) => item.trim()).filter(Boolean);
  const unknown = scope.filter((item) => !(SCOPES as readonly string[]).includes(item));
  if (unknown.length > 0) fail(`unknown scope ${unknown.join(', ')} (allowed: ${SCOPES.join(', ')})`);
  if (!(TOKEN_TYPES as readonly string[]).includes(values.type)) fail(`--type must be one of ${TOKEN_TYPES.join(', ')}`);
  const expiresIn = values['expires-in'];
  if (expiresIn !== 'never' && !/^\d+\s*[a-z]*$/i.test(expiresIn)) fail('--expires-in takes 3600, 90d, 12h, … or never');

  const token = signToken({
    secret: env.JWT_SECRET,
    issuer: env.JWT_ISSUER,
    subject: values.sub,
    scope: scope as Scope[],
    type: values.type as TokenType,
    version: values.version,
    env: values.env ?? env.APP_ENV,
    expiresIn: expiresIn === 'never' ? undefined : /^\d+$/.test(expiresIn) ? Number(expiresIn) : (expiresIn as `${number}d`),
  });
  process.stdout.write(`${token}\n`);
}

main();
