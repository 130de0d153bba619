// Signing and key handling for API-key tokens; shared by the strategy, `npm run token` and the tests.
import { createSecretKey, KeyObject } from 'node:crypto';
import { sign, SignOptions } from 'jsonwebtoken';

/** read: see one's jobs; write: register and change them; admin: do either for every tenant's jobs (SPEC 6.3). */
export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
export const TOKEN_TYPES = ['public', 'private'] as const;
export type TokenType = (typeof TOKEN_TYPES)[number];

/** Claims of an API-key token, compatible with the original Go template's keys. */
export interface TokenClaims {
  iss: string;
  sub: string;
  type?: TokenType;
  scope?: Scope[];
  version?: string;
  env?: string;
  iat?: number;
  nbf?: number;
  exp?: number;
}

/**
 * jsonwebtoken treats a string secret as a possible PEM key first and pays ~0.3 ms per verification for
 * that failed parse; a KeyObject skips it (about 50x faster), so the secret is wrapped once.
 */
export function hmacKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

export interface SignTokenInput {
  secret: string | KeyObject;
  issuer: string;
  subject: string;
  scope?: Scope[];
  type?: TokenType;
  version?: string;
  env?: string;
  /** seconds or a vercel/ms string such as "90d"; omit for a token that never expires */
  expiresIn?: SignOptions['expiresIn'];
}

export function signToken(input: SignTokenInput): string {
  const payload: Omit<TokenClaims, 'iss' | 'sub' | 'iat' | 'exp'> = {
    type: input.type ?? 'private',
    scope: input.scope ?? ['read', 'write'],
    version: input.version ?? 'v2',
  };
  if (input.env !== undefined) payload.env = input.env;
  const key = typeof input.secret === 'string' ? hmacKey(input.secret) : input.secret;
  return sign(payload, key, {
    algorithm: 'HS256',
    issuer: input.issuer,
    subject: input.subject,
    ...(input.expiresIn !== undefined ? { expiresIn: input.expiresIn } : {}),
  });
}
