// Tokens for the specs, signed by the same code as `npm run token`.
import { Scope, signToken, SignTokenInput } from '../../src/auth/token';

export const TEST_SECRET = 'e2e-test-secret-that-is-at-least-32-bytes-long';
export const TEST_ISSUER = 'go-webdb-template';

export function token(overrides: Partial<SignTokenInput> & { scope?: Scope[] } = {}): string {
  return signToken({
    secret: TEST_SECRET,
    issuer: TEST_ISSUER,
    subject: 'e2e',
    env: 'test',
    expiresIn: '1h',
    ...overrides,
  });
}

export const bearer = (value = token()): { authorization: string } => ({ authorization: `Bearer ${value}` });
