import { decode, verify, type Jwt, type JwtPayload } from 'jsonwebtoken';
import { hmacKey, signToken } from './token';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes';

function decodeComplete(token: string): { header: Jwt['header']; payload: JwtPayload } {
  const decoded = decode(token, { complete: true });
  if (decoded === null || typeof decoded.payload === 'string') throw new Error('not a JWT with a JSON payload');
  return { header: decoded.header, payload: decoded.payload };
}

describe('signToken', () => {
  it('should produce an HS256 JWT carrying every claim', () => {
    const before = Math.floor(Date.now() / 1000);
    const token = signToken({
      secret: SECRET,
      issuer: 'go-webdb-template',
      subject: 'client-1',
      scope: ['read'],
      type: 'public',
      version: 'v3',
      env: 'test',
      expiresIn: 3600,
    });
    const after = Math.floor(Date.now() / 1000);

    const { header, payload } = decodeComplete(token);
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payload).toEqual({
      iss: 'go-webdb-template',
      sub: 'client-1',
      scope: ['read'],
      type: 'public',
      version: 'v3',
      env: 'test',
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
    expect(payload.iat).toBeGreaterThanOrEqual(before);
    expect(payload.iat).toBeLessThanOrEqual(after);
    expect(payload.exp).toBe(payload.iat! + 3600);
  });

  it('should verify with jsonwebtoken and the same key', () => {
    const token = signToken({ secret: SECRET, issuer: 'issuer-x', subject: 'client-1', env: 'test', expiresIn: '1h' });

    const payload = verify(token, hmacKey(SECRET), { algorithms: ['HS256'], issuer: 'issuer-x' });

    expect(payload).toMatchObject({ iss: 'issuer-x', sub: 'client-1', env: 'test' });
  });

  it('should not verify with another secret', () => {
    const token = signToken({ secret: SECRET, issuer: 'issuer-x', subject: 'client-1' });

    expect(() => verify(token, hmacKey(`${SECRET}-other`), { algorithms: ['HS256'] })).toThrow('invalid signature');
  });

  it('should accept a KeyObject as the secret', () => {
    const token = signToken({ secret: hmacKey(SECRET), issuer: 'issuer-x', subject: 'client-1' });

    expect(verify(token, hmacKey(SECRET), { algorithms: ['HS256'] })).toMatchObject({ sub: 'client-1' });
  });

  it('should default to a private read/write v2 token without env and without exp', () => {
    const token = signToken({ secret: SECRET, issuer: 'go-webdb-template', subject: 'client-1' });

    const { payload } = decodeComplete(token);
    expect(payload).toEqual({
      iss: 'go-webdb-template',
      sub: 'client-1',
      scope: ['read', 'write'],
      type: 'private',
      version: 'v2',
      iat: expect.any(Number),
    });
    expect(payload).not.toHaveProperty('exp');
    expect(payload).not.toHaveProperty('env');
  });
});

describe('hmacKey', () => {
  it('should wrap the UTF-8 bytes of the secret in a secret KeyObject', () => {
    const key = hmacKey('é'.repeat(16));

    expect(key.type).toBe('secret');
    expect(key.symmetricKeySize).toBe(32);
    expect(key.export().toString('utf8')).toBe('é'.repeat(16));
  });
});
