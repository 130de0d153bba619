import { BASIC_CHALLENGE, basicAuthChecker, parseBasic } from './basic-auth';

const basic = (text: string): string => `Basic ${Buffer.from(text, 'utf8').toString('base64')}`;

describe('parseBasic', () => {
  it('should split user and password at the first colon', () => {
    expect(parseBasic(basic('admin:pa:ss word'))).toEqual({ user: 'admin', password: 'pa:ss word' });
  });

  it('should accept the scheme in any case', () => {
    expect(parseBasic(`basic ${Buffer.from('a:b').toString('base64')}`)).toEqual({ user: 'a', password: 'b' });
  });

  it.each([
    ['no header', undefined],
    ['another scheme', 'Bearer abc.def.ghi'],
    ['no colon', basic('admin')],
    ['not base64', 'Basic !!!'],
    ['an empty value', 'Basic '],
  ])('should refuse %s', (_what, header) => {
    expect(parseBasic(header)).toBeUndefined();
  });
});

describe('basicAuthChecker', () => {
  const check = basicAuthChecker({ user: 'admin', password: 'a-long-password-123' });

  it('should accept the configured credentials', () => {
    expect(check(basic('admin:a-long-password-123'))).toBe(true);
  });

  it.each([
    ['a wrong password', basic('admin:a-long-password-124')],
    ['a prefix of the password', basic('admin:a-long')],
    ['a longer password', basic('admin:a-long-password-1234')],
    ['an empty password', basic('admin:')],
    ['a wrong user', basic('root:a-long-password-123')],
    ['the user in another case', basic('Admin:a-long-password-123')],
    ['a bearer token', 'Bearer a-long-password-123'],
    ['no header', undefined],
  ])('should refuse %s', (_what, header) => {
    expect(check(header)).toBe(false);
  });

  it('should handle non-ASCII credentials', () => {
    const unicode = basicAuthChecker({ user: 'ädmin', password: 'pässwört-123456' });
    expect(unicode(basic('ädmin:pässwört-123456'))).toBe(true);
    expect(unicode(basic('admin:passwort-123456'))).toBe(false);
  });

  it('should challenge for the dashboard realm', () => {
    expect(BASIC_CHALLENGE).toMatch(/^Basic realm="dm-jobqueue dashboard"/);
  });
});
