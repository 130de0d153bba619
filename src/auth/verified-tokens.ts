// Tokens that passed verification, so the same client's next request with the same token skips it.
import type { Principal } from './principal';

interface Entry {
  principal: Principal;
  /** `exp` and `nbf` of the token, in seconds, when it has them. */
  exp?: number;
  nbf?: number;
}

/** `exp` and `nbf` of a token that has just been verified (so its payload is known to be well-formed JSON). */
function validityOf(token: string): Pick<Entry, 'exp' | 'nbf'> {
  const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as {
    exp?: unknown;
    nbf?: unknown;
  };
  return {
    exp: typeof payload.exp === 'number' ? payload.exp : undefined,
    nbf: typeof payload.nbf === 'number' ? payload.nbf : undefined,
  };
}

/**
 * Verifying an HS256 token is most of what authenticating a request costs (`bench/README.md`), and callers send
 * the same bearer token on every request. Whether a token is accepted depends only on the token, the
 * configuration (secret, issuer, environment, revoked versions: fixed for the life of the process) and the
 * clock, so the principal of a verified token is kept, keyed by the whole token string (signature included: a
 * token differing in any character is verified on its own), and `exp` and `nbf` are checked again on every hit
 * exactly as jsonwebtoken checks them. Only accepted tokens are kept, so refused ones cannot fill the cache; it
 * holds at most `capacity` tokens, the least recently used going first. `capacity` 0 keeps nothing.
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly capacity: number,
    private readonly clockToleranceSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The principal of a token verified before and still within its validity, else undefined. */
  get(token: string): Principal | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    this.entries.delete(token);
    if (!this.valid(entry)) return undefined;
    this.entries.set(token, entry); // now the most recently used
    return entry.principal;
  }

  /** Whether `token` was verified and is still within its validity; leaves the eviction order as it is. */
  has(token: string): boolean {
    const entry = this.entries.get(token);
    return entry !== undefined && this.valid(entry);
  }

  // jsonwebtoken's own checks: exp in the past (beyond the tolerance) is expired; nbf in the future is not yet valid.
  private valid(entry: Entry): boolean {
    const seconds = Math.floor(this.now() / 1_000);
    const expired = entry.exp !== undefined && seconds >= entry.exp + this.clockToleranceSeconds;
    const early = entry.nbf !== undefined && entry.nbf > seconds + this.clockToleranceSeconds;
    return !expired && !early;
  }

  /** Keeps the principal of a token that verification has just accepted. */
  remember(token: string, principal: Principal): void {
    if (this.capacity === 0) return;
    if (this.entries.size >= this.capacity && !this.entries.has(token)) {
      this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(token, { principal, ...validityOf(token) });
  }
}
