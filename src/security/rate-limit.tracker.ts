// Who "a client" is for rate limiting: the bearer token when one is sent, the address otherwise.
import { normalizeIp } from '@nestjs/throttler';
import { createHash } from 'node:crypto';

// The scheme is case-insensitive (RFC 7235); whatever follows it is the token, valid or not.
const BEARER = /^bearer +(\S+?)\s*$/i;

/**
 * `bearer:<sha256 of the token>` when the request carries `Authorization: Bearer <token>`, else
 * `ip:<address>` (IPv6 grouped by /64, so one host cannot dodge the limit by rotating its addresses).
 * Only the hash is kept in the limiter's memory: the token itself is never stored or logged.
 * The token is not verified here (the limiter runs before authentication), so a client that sends a
 * new made-up token on every request gets a fresh count each time, but also nothing but 401s.
 */
export function rateLimitTracker(authorization: string | undefined, ip: string): string {
  const token = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
  if (token !== undefined) return `bearer:${createHash('sha256').update(token).digest('hex')}`;
  return `ip:${normalizeIp(ip)}`;
}
