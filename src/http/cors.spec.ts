import { corsOptions, isHttpOrigin, splitList } from './cors';

describe('splitList', () => {
  it.each([
    ['', []],
    [' , ', []],
    ['https://a.example', ['https://a.example']],
    [' https://a.example , https://b.example, ', ['https://a.example', 'https://b.example']],
  ])('should split %j into %j', (value, list) => {
    expect(splitList(value)).toEqual(list);
  });
});

describe('isHttpOrigin', () => {
  it.each([
    'https://app.example',
    'http://localhost:3000',
    'https://app.example:8443',
    'http://127.0.0.1:8080',
    'http://[::1]:3000',
  ])('should accept %s', (origin) => {
    expect(isHttpOrigin(origin)).toBe(true);
  });

  it.each([
    ['a trailing slash', 'https://app.example/'],
    ['a path', 'https://app.example/app'],
    ['a query', 'https://app.example?x=1'],
    ['credentials', 'https://user:pass@app.example'],
    ['another scheme', 'ftp://app.example'],
    ['a wildcard', '*'],
    ['a wildcard host', 'https://*.example'],
    ['no scheme', 'app.example'],
    ['upper case (browsers send the host in lower case)', 'https://App.example'],
    ['the default port spelt out (browsers leave it out)', 'https://app.example:443'],
    ['the null origin', 'null'],
  ])('should refuse %s', (_, origin) => {
    expect(isHttpOrigin(origin)).toBe(false);
  });
});

describe('corsOptions', () => {
  const decide = (origin: string | undefined, origins = ['https://a.example', 'https://b.example']): unknown => {
    const { origin: resolve } = corsOptions(origins);
    let decided: unknown;
    (resolve as (origin: string | undefined, callback: (error: Error | null, allow: unknown) => void) => void)(
      origin,
      (_error, allow) => (decided = allow),
    );
    return decided;
  };

  it('should allow exactly the listed origins, echoing the one asking', () => {
    expect(decide('https://a.example')).toBe('https://a.example');
    expect(decide('https://b.example')).toBe('https://b.example');
  });

  it.each([
    undefined,
    'https://evil.example',
    'https://a.example.evil.example',
    'http://a.example',
    'https://A.example',
  ])('should give no CORS headers to %s', (origin) => {
    expect(decide(origin)).toBe(false);
  });

  it('should allow the headers the API reads and expose the rate-limit headers', () => {
    expect(corsOptions(['https://a.example'])).toMatchObject({
      allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
      exposedHeaders: ['Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
      maxAge: 600,
    });
  });
});
