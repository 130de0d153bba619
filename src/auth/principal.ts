import type { Scope, TokenClaims, TokenType } from './token';
import { hasLoneSurrogate } from '../common/unicode';
import { SCOPES } from './token';

/** Who is calling, as the guard attaches it to `request.user`. */
export interface Principal {
  subject: string;
  type: TokenType | undefined;
  scopes: ReadonlySet<Scope>;
}

export interface ClaimPolicy {
  appEnv: string;
  revokedVersions: ReadonlySet<string>;
}

/**
 * Checks the claims jsonwebtoken does not (signature, algorithm, issuer, exp and nbf are its job) and
 * returns the principal, or undefined when the token must be refused.
 */
export function principalFromClaims(claims: Partial<TokenClaims>, policy: ClaimPolicy): Principal | undefined {
  // A lone surrogate would make two subjects one tenant: their keys hash the UTF-8 form, where it is U+FFFD.
  if (typeof claims.sub !== 'string' || claims.sub === '' || hasLoneSurrogate(claims.sub)) return undefined;
  if (claims.env !== undefined && claims.env !== policy.appEnv) return undefined;
  // jsonwebtoken checks the types of exp and nbf, not of iat (RFC 7519: a NumericDate).
  if (claims.iat !== undefined && (typeof claims.iat !== 'number' || !Number.isFinite(claims.iat))) return undefined;
  if (
    claims.version !== undefined &&
    (typeof claims.version !== 'string' || policy.revokedVersions.has(normalizeVersion(claims.version)))
  ) {
    return undefined;
  }
  if (claims.type !== undefined && claims.type !== 'public' && claims.type !== 'private') return undefined;
  const scope: unknown = claims.scope ?? [];
  if (!Array.isArray(scope)) return undefined;
  const scopes = new Set<Scope>();
  for (const item of scope) {
    if (typeof item === 'string' && (SCOPES as readonly string[]).includes(item)) scopes.add(item as Scope);
  }
  return { subject: claims.sub, type: claims.type, scopes };
}

/** Versions compare trimmed and in any letter case, so a revoked `v1` also refuses `V1` and `" v1"`. */
const normalizeVersion = (version: string): string => version.trim().toLowerCase();

/** JWT_REVOKED_VERSIONS as the set principalFromClaims looks versions up in (normalized). */
export function parseRevokedVersions(list: string): ReadonlySet<string> {
  return new Set(
    list
      .split(',')
      .map(normalizeVersion)
      .filter((version) => version !== ''),
  );
}
