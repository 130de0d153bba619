import { ClaimPolicy, parseRevokedVersions, principalFromClaims } from './principal';
import type { TokenClaims } from './token';

const policy: ClaimPolicy = { appEnv: 'test', revokedVersions: new Set(['v1']) };

const claims = (overrides: Record<string, unknown> = {}): Partial<TokenClaims> => ({
  iss: 'go-webdb-template',
  sub: 'client-1',
  type: 'private',
  scope: ['read', 'write'],
  version: 'v2',
  env: 'test',
  ...overrides,
});

describe('principalFromClaims', () => {
  it('should return the principal of valid claims', () => {
    expect(principalFromClaims(claims(), policy)).toEqual({
      subject: 'client-1',
      type: 'private',
      scopes: new Set(['read', 'write']),
    });
  });

  it('should refuse a token issued for another environment', () => {
    expect(principalFromClaims(claims({ env: 'production' }), policy)).toBeUndefined();
  });

  it('should accept a token without an env claim', () => {
    expect(principalFromClaims(claims({ env: undefined }), policy)).toEqual({
      subject: 'client-1',
      type: 'private',
      scopes: new Set(['read', 'write']),
    });
  });

  it('should refuse a null env claim', () => {
    expect(principalFromClaims(claims({ env: null }), policy)).toBeUndefined();
  });

  it.each(['v1', 'V1', ' v1', 'v1 ', '\tV1\n'])(
    'should refuse the revoked version %j (trimmed, any case)',
    (version) => {
      expect(
        principalFromClaims(claims({ version }), { ...policy, revokedVersions: parseRevokedVersions(' V1 ') }),
      ).toBeUndefined();
    },
  );

  it('should accept a version that only resembles a revoked one', () => {
    expect(principalFromClaims(claims({ version: 'v1.1' }), policy)?.subject).toBe('client-1');
  });

  it.each(['yesterday', '1700000000', null, [1], { t: 1 }, true])('should refuse the non-numeric iat %j', (iat) => {
    expect(principalFromClaims(claims({ iat }), policy)).toBeUndefined();
  });

  it('should accept a numeric iat', () => {
    expect(principalFromClaims(claims({ iat: 1_700_000_000 }), policy)?.subject).toBe('client-1');
  });

  it('should accept a token without a version claim', () => {
    expect(principalFromClaims(claims({ version: undefined }), policy)?.subject).toBe('client-1');
  });

  it.each([1, null, ['v2'], { v: 2 }])('should refuse the non-string version %j', (version) => {
    expect(principalFromClaims(claims({ version }), policy)).toBeUndefined();
  });

  it('should drop unknown scope items and keep the known ones', () => {
    expect(
      principalFromClaims(claims({ scope: ['read', 'admin', 5, null, 'WRITE', 'ADMIN', 'owner'] }), policy)?.scopes,
    ).toEqual(new Set(['read', 'admin']));
  });

  it('should give no scopes when the scope claim is absent', () => {
    expect(principalFromClaims(claims({ scope: undefined }), policy)?.scopes).toEqual(new Set());
  });

  it.each(['read write', 'write', { 0: 'write' }, 1])('should refuse the non-array scope %j', (scope) => {
    expect(principalFromClaims(claims({ scope }), policy)).toBeUndefined();
  });

  it.each(['m\ud800', 'a\udfffb', '\ud83d'])('should refuse a subject with a lone surrogate (%j)', (sub) => {
    // Hashed as UTF-8 it would be "m\ufffd": two subjects, one tenant's keys.
    expect(principalFromClaims(claims({ sub }), policy)).toBeUndefined();
  });

  it('should accept a subject with a whole surrogate pair', () => {
    expect(principalFromClaims(claims({ sub: 'team-😀' }), policy)?.subject).toBe('team-😀');
  });

  it.each([undefined, '', 42, null])('should refuse the subject %j', (sub) => {
    expect(principalFromClaims(claims({ sub }), policy)).toBeUndefined();
  });

  it.each(['admin', 'PRIVATE', 1, null])('should refuse the type %j', (type) => {
    expect(principalFromClaims(claims({ type }), policy)).toBeUndefined();
  });

  it('should accept a public token and leave the type undefined when it is absent', () => {
    expect(principalFromClaims(claims({ type: 'public' }), policy)?.type).toBe('public');
    expect(principalFromClaims(claims({ type: undefined }), policy)).toEqual({
      subject: 'client-1',
      type: undefined,
      scopes: new Set(['read', 'write']),
    });
  });
});

describe('parseRevokedVersions', () => {
  it('should split, trim, lower-case and drop empty items', () => {
    expect(parseRevokedVersions(' v1, V0 ,,')).toEqual(new Set(['v1', 'v0']));
  });

  it('should give an empty set for an empty list', () => {
    expect(parseRevokedVersions('')).toEqual(new Set());
    expect(parseRevokedVersions(' , ')).toEqual(new Set());
  });

  it('should keep a single version', () => {
    expect(parseRevokedVersions('v1')).toEqual(new Set(['v1']));
  });
});
