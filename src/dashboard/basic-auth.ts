// HTTP Basic authentication for the queue dashboard: a constant-time check of one configured user.
import { createHash, timingSafeEqual } from 'node:crypto';

export const DASHBOARD_REALM = 'dm-jobqueue dashboard';
/** The challenge sent with every 401 of the dashboard. */
export const BASIC_CHALLENGE = `Basic realm="${DASHBOARD_REALM}", charset="UTF-8"`;

export interface DashboardCredentials {
  user: string;
  password: string;
}

// Both sides are hashed first, so timingSafeEqual always compares two 32-byte buffers and the time
// taken reveals neither the configured values nor their lengths.
const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Returns a checker of `Authorization` header values against the configured credentials. Only the
 * digests are kept; the password itself is not captured by the returned function.
 */
export function basicAuthChecker(credentials: DashboardCredentials): (header: string | undefined) => boolean {
  const user = digest(credentials.user);
  const password = digest(credentials.password);
  return (header) => {
    const given = parseBasic(header);
    if (given === undefined) return false;
    // Both comparisons always run (no short circuit on a wrong user).
    const userMatches = timingSafeEqual(digest(given.user), user);
    const passwordMatches = timingSafeEqual(digest(given.password), password);
    return userMatches && passwordMatches;
  };
}

/** `Basic base64(user:password)` → its parts; undefined for anything else. The user ends at the first colon. */
export function parseBasic(header: string | undefined): DashboardCredentials | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(header);
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
