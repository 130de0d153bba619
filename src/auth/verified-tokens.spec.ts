import { sign } from 'jsonwebtoken';
import type { Principal } from './principal';
import { hmacKey } from './token';
import { VerifiedTokens } from './verified-tokens';

const TOLERANCE = 30;
const T0 = 1_800_000_000; // seconds
const key = hmacKey('verified-tokens-spec-secret-of-more-than-32-bytes');

const tokenWith = (claims: Record<string, unknown>): string =>
  sign({ sub: 'client-1', ...claims }, key, { algorithm: 'HS256' });
const principal = (subject = 'client-1'): Principal => ({
  subject,
  type: 'private',
  scopes: new Set(['read', 'write']),
});

describe('VerifiedTokens', () => {
  let clock: number;
  const tokens = (capacity = 10): VerifiedTokens => new VerifiedTokens(capacity, TOLERANCE, () => clock);

  beforeEach(() => {
    clock = T0 * 1_000;
  });

  it('should give back the principal of a remembered token, and nothing for any other', () => {
    const cache = tokens();
    const token = tokenWith({ exp: T0 + 60 });
    cache.remember(token, principal());

    expect(cache.get(token)).toEqual(principal());
    expect(cache.get(tokenWith({ exp: T0 + 61 }))).toBeUndefined();
  });

  it.each([
    ['exp, within the clock tolerance', { exp: T0 - 29 }, true],
    ['exp, at the end of the clock tolerance', { exp: T0 - 30 }, false],
    ['nbf, within the clock tolerance', { nbf: T0 + 30 }, true],
    ['nbf, beyond the clock tolerance', { nbf: T0 + 31 }, false],
    ['no exp or nbf', {}, true],
  ])('should check %s on every use as jsonwebtoken does', (_, claims, accepted) => {
    const cache = tokens();
    const token = tokenWith(claims);
    clock = (T0 - 3_600) * 1_000; // remembered while valid
    cache.remember(token, principal());
    clock = T0 * 1_000 + 999; // within the same second as T0

    expect(cache.get(token)).toEqual(accepted ? principal() : undefined);
  });

  it('should forget a token once it has expired', () => {
    const cache = tokens();
    const token = tokenWith({ exp: T0 + 10 });
    cache.remember(token, principal());
    clock = (T0 + 40) * 1_000;

    expect(cache.get(token)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('should hold at most its capacity, dropping the least recently used token first', () => {
    const cache = tokens(2);
    const [a, b, c] = ['a', 'b', 'c'].map((sub) => tokenWith({ sub, exp: T0 + 60 }));
    cache.remember(a, principal('a'));
    cache.remember(b, principal('b'));
    cache.get(a); // a is now more recently used than b
    cache.remember(c, principal('c'));

    expect(cache.size).toBe(2);
    expect(cache.get(b)).toBeUndefined();
    expect(cache.get(a)?.subject).toBe('a');
    expect(cache.get(c)?.subject).toBe('c');
  });

  it('should say whether a token is verified and valid without changing which token goes first', () => {
    const cache = tokens(2);
    const older = tokenWith({ sub: 'older', exp: T0 + 60 });
    const newer = tokenWith({ sub: 'newer', exp: T0 + 3600 });
    cache.remember(older, principal('older'));
    cache.remember(newer, principal('newer'));

    expect(cache.has(older)).toBe(true);
    expect(cache.has(tokenWith({ sub: 'never' }))).toBe(false);
    cache.remember(tokenWith({ sub: 'third' }), principal('third'));
    expect(cache.has(older)).toBe(false); // still the least recently used: has() did not refresh it
    expect(cache.has(newer)).toBe(true);

    clock = (T0 + 3600 + TOLERANCE) * 1_000;
    expect(cache.has(newer)).toBe(false); // expired
  });

  it('should keep nothing with capacity 0', () => {
    const cache = tokens(0);
    const token = tokenWith({ exp: T0 + 60 });
    cache.remember(token, principal());

    expect(cache.get(token)).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
