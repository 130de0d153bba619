import { isSameOrigin } from './same-origin';

describe('isSameOrigin', () => {
  const HOST = 'jobs.internal:8080';

  it.each([
    ['neither header (curl, a script)', { host: HOST }],
    ['Sec-Fetch-Site: same-origin alone', { host: HOST, 'sec-fetch-site': 'same-origin' }],
    ['an Origin equal to the Host', { host: HOST, origin: 'http://jobs.internal:8080' }],
    ['both headers agreeing', { host: HOST, origin: 'http://jobs.internal:8080', 'sec-fetch-site': 'same-origin' }],
    ['a default port written in Host', { host: 'jobs.internal:443', origin: 'https://jobs.internal' }],
    ['a default port left out of Host', { host: 'jobs.internal', origin: 'http://jobs.internal' }],
    // Host carries no scheme: behind a TLS-terminating proxy an https page reaches us with a bare Host.
    ['an https Origin and a bare Host', { host: 'jobs.internal', origin: 'https://jobs.internal' }],
    ['a host in another case', { host: 'Jobs.Internal:8080', origin: 'http://jobs.internal:8080' }],
    ['an IPv6 host', { host: '[::1]:8080', origin: 'http://[::1]:8080' }],
  ])('should accept %s', (_what, headers) => {
    expect(isSameOrigin(headers)).toBe(true);
  });

  it.each([
    ['Sec-Fetch-Site: cross-site', { host: HOST, 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site (a sibling subdomain)', { host: HOST, 'sec-fetch-site': 'same-site' }],
    ['Sec-Fetch-Site: none', { host: HOST, 'sec-fetch-site': 'none' }],
    ['Sec-Fetch-Site sent twice', { host: HOST, 'sec-fetch-site': ['same-origin', 'cross-site'] }],
    ['another site in Origin', { host: HOST, origin: 'https://evil.example' }],
    ['the same host on another port', { host: HOST, origin: 'http://jobs.internal:9090' }],
    ['a host that only starts like ours', { host: HOST, origin: 'http://jobs.internal:8080.evil.example' }],
    ['Origin: null (sandboxed frame, data: URL)', { host: HOST, origin: 'null' }],
    ['a malformed Origin', { host: HOST, origin: 'http://' }],
    ['a non-HTTP Origin', { host: HOST, origin: 'file://' }],
    ['an Origin and no Host', { origin: 'http://jobs.internal:8080' }],
    ['a Host with a path', { host: 'jobs.internal:8080/x', origin: 'http://jobs.internal:8080' }],
    ['a Host with credentials', { host: 'evil@jobs.internal:8080', origin: 'http://jobs.internal:8080' }],
    [
      'same-origin metadata with a foreign Origin',
      { host: HOST, origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' },
    ],
    [
      'a matching Origin with cross-site metadata',
      { host: HOST, origin: 'http://jobs.internal:8080', 'sec-fetch-site': 'cross-site' },
    ],
  ])('should refuse %s', (_what, headers) => {
    expect(isSameOrigin(headers)).toBe(false);
  });
});
