// Who "a client" is for rate limiting: a bearer token once it has been verified, the address otherwise.
import { normalizeIp } from '@nestjs/throttler';
import { createHash } from 'node:crypto';

// The scheme is case-insensitive (RFC 7235); whatever follows it is the token, valid or not.
const BEARER = /^bearer +(\S+?)\s*$/i;

/**
 * `bearer:<sha256 of the token>` when the request carries `Authorization: Bearer <token>` and that token has been
 * verified before (`isVerified`), else `ip:<address>` (IPv6 grouped by /64, so one host cannot dodge the limit by
 * rotating its addresses). The limiter runs before authentication, so a token it has not seen verified is only a
 * claim: counting it on its own would let a client escape the limit with a new made-up token on every request
 * (SPEC 6.6). A new valid token's first request counts against its address; from then on it has its own count.
 * Only the hash is kept in the limiter's memory: the token itself is never stored or logged.
 */
export function rateLimitTracker(
  authorization: string | undefined,
  ip: string,
  isVerified: (token: string) => boolean,
): string {
  const token = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
  if (token !== undefined && isVerified(token)) return `bearer:${createHash('sha256').update(token).digest('hex')}`;
  return `ip:${normalizeIp(ip)}`;
}
