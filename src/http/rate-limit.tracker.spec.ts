import { createHash } from 'node:crypto';
import { rateLimitTracker } from './rate-limit.tracker';

const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl';
const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');
const verified = (): boolean => true;
const unverified = (): boolean => false;

describe('rateLimitTracker', () => {
  it('should count a token not verified yet against the address, so made-up tokens cannot each get a count', () => {
    expect(rateLimitTracker(`Bearer ${TOKEN}`, '10.0.0.1', unverified)).toBe('ip:10.0.0.1');
    expect(rateLimitTracker(`Bearer ${TOKEN}a`, '10.0.0.1', unverified)).toBe(
      rateLimitTracker(`Bearer ${TOKEN}b`, '10.0.0.1', unverified),
    );
  });

  it('should ask about the token itself, without the scheme', () => {
    const asked: string[] = [];
    rateLimitTracker(`bearer ${TOKEN}`, '10.0.0.1', (token) => asked.push(token) > 0);
    expect(asked).toEqual([TOKEN]);
  });

  it('should track a verified bearer token by its SHA-256 hash', () => {
    expect(rateLimitTracker(`Bearer ${TOKEN}`, '10.0.0.1', verified)).toBe(`bearer:${sha256(TOKEN)}`);
  });

  it('should never contain the token itself', () => {
    const tracker = rateLimitTracker(`Bearer ${TOKEN}`, '10.0.0.1', verified);

    expect(tracker).not.toContain(TOKEN);
    expect(tracker).not.toContain(TOKEN.split('.')[1]);
  });

  it('should give two tokens from one address two different trackers', () => {
    expect(rateLimitTracker(`Bearer ${TOKEN}a`, '10.0.0.1', verified)).not.toBe(
      rateLimitTracker(`Bearer ${TOKEN}b`, '10.0.0.1', verified),
    );
  });

  it('should give one token the same tracker from any address', () => {
    expect(rateLimitTracker(`Bearer ${TOKEN}`, '10.0.0.1', verified)).toBe(
      rateLimitTracker(`Bearer ${TOKEN}`, '192.0.2.7', verified),
    );
  });

  it.each([`bearer ${TOKEN}`, `BEARER  ${TOKEN}`, `Bearer ${TOKEN} `])(
    'should read the scheme case-insensitively (%j)',
    (header) => {
      expect(rateLimitTracker(header, '10.0.0.1', verified)).toBe(`bearer:${sha256(TOKEN)}`);
    },
  );

  it.each([
    ['no Authorization header', undefined],
    ['another scheme', 'Basic dXNlcjpwYXNz'],
    ['a bare scheme', 'Bearer'],
    ['an empty token', 'Bearer '],
    ['a token with a space inside', 'Bearer a b'],
  ])('should fall back to the client address for %s', (_, header) => {
    expect(rateLimitTracker(header, '10.0.0.1', verified)).toBe('ip:10.0.0.1');
  });

  it('should group IPv6 addresses by their /64 and unwrap IPv4-mapped ones', () => {
    expect(rateLimitTracker(undefined, '2001:db8:1:2:aaaa::1', verified)).toBe(
      rateLimitTracker(undefined, '2001:db8:1:2:bbbb::2', verified),
    );
    expect(rateLimitTracker(undefined, '2001:db8:1:2:aaaa::1', verified)).toBe('ip:2001:db8:1:2::/64');
    expect(rateLimitTracker(undefined, '::ffff:10.0.0.1', verified)).toBe('ip:10.0.0.1');
  });
});
