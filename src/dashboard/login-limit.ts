// The dashboard's failed-login limit (SPEC 6.6): per client address, per process, in memory.
import { normalizeIp } from '@nestjs/throttler';
import { FixedWindowStorage } from '../http/rate-limit.storage';

export const FAILED_LOGINS_PER_WINDOW = 10;
export const FAILED_LOGIN_WINDOW_MS = 60_000;

/**
 * More than `limit` failed logins from one address within a window (from its first failure) shut that
 * address out until the window ends. Ended windows are forgotten (FixedWindowStorage), so memory
 * follows the addresses that failed in the last minute or two.
 */
export class FailedLoginLimit {
  constructor(
    private readonly storage = new FixedWindowStorage(),
    private readonly limit = FAILED_LOGINS_PER_WINDOW,
    private readonly windowMs = FAILED_LOGIN_WINDOW_MS,
  ) {}

  /** Seconds until `address` may log in again (Retry-After); 0 when it is not shut out. Counts nothing. */
  blockedFor(address: string): number {
    return this.storage.peek(key(address), this.limit).timeToBlockExpire;
  }

  /** Records a failed login; returns blockedFor(address) after it. */
  async failed(address: string): Promise<number> {
    return (await this.storage.increment(key(address), this.windowMs, this.limit)).timeToBlockExpire;
  }
}

// IPv6 grouped by /64, as the API's rate limit does, so one host cannot rotate through its addresses.
const key = (address: string): string => normalizeIp(address);
