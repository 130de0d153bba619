// In-memory, per-process counters for the rate limiter: one fixed window per client, O(1) per request.
import type { ThrottlerStorage } from '@nestjs/throttler';

/** What the guard needs from one hit; the shape of @nestjs/throttler's ThrottlerStorageRecord. */
export interface RateLimitHit {
  totalHits: number;
  /** Seconds until the client's window ends and its count starts again (X-RateLimit-Reset). */
  timeToExpire: number;
  isBlocked: boolean;
  /** Seconds until a blocked client may try again (Retry-After); 0 when not blocked. */
  timeToBlockExpire: number;
}

interface Window {
  hits: number;
  endsAt: number;
}

/**
 * Replaces throttler's default storage, which keeps one timestamp per hit and filters them on every
 * request: fine for a handful of requests, linear in the limit for large ones. Here a window starts at a
 * client's first request and lasts `ttl`; at most `limit` requests pass in it, the rest are refused until
 * it ends. (A client may so get up to twice the limit across a window boundary, the usual trade-off of
 * fixed windows.) Nothing touches Redis: the limit holds per process.
 */
export class FixedWindowStorage implements ThrottlerStorage {
  private readonly windows = new Map<string, Window>();
  private nextSweepAt = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly sweepEveryMs = 60_000,
  ) {}

  /** Number of clients currently remembered (for tests). */
  get size(): number {
    return this.windows.size;
  }

  // `blockDuration` is not used: a refused client waits for the end of its window.
  increment(key: string, ttl: number, limit: number): Promise<RateLimitHit> {
    const now = this.now();
    if (now >= this.nextSweepAt) this.sweep(now);
    let window = this.windows.get(key);
    if (window === undefined || window.endsAt <= now) {
      window = { hits: 0, endsAt: now + ttl };
      this.windows.set(key, window);
    }
    window.hits += 1;
    return Promise.resolve(record(window, now, limit));
  }

  /**
   * The client's standing without counting a hit (synchronous: it touches no I/O), so a caller can refuse
   * a blocked client before doing the work it counts, such as checking a password.
   */
  peek(key: string, limit: number): RateLimitHit {
    const now = this.now();
    const window = this.windows.get(key);
    if (window === undefined || window.endsAt <= now)
      return { totalHits: 0, timeToExpire: 0, isBlocked: false, timeToBlockExpire: 0 };
    return record(window, now, limit);
  }

  /** Forgets the clients whose window has ended, so memory follows the clients of the last minute. */
  private sweep(now: number): void {
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
    this.nextSweepAt = now + this.sweepEveryMs;
  }
}

function record(window: Window, now: number, limit: number): RateLimitHit {
  const timeToExpire = Math.max(1, Math.ceil((window.endsAt - now) / 1000));
  const isBlocked = window.hits > limit;
  return { totalHits: window.hits, timeToExpire, isBlocked, timeToBlockExpire: isBlocked ? timeToExpire : 0 };
}
