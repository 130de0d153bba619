// CSRF defence of the writable dashboard: the browser's own headers say where a request came from.

export interface FetchMetadata {
  origin?: string | undefined;
  'sec-fetch-site'?: string | string[] | undefined;
  host?: string | undefined;
}

/**
 * False when the browser says the request was made by another page: `Sec-Fetch-Site` other than
 * `same-origin` (also `same-site`: a sibling subdomain is another application), or an `Origin` whose
 * host and port are not the `Host` the request was sent to (`Origin: null` included). Browsers send
 * `Origin` with every POST, PUT, PATCH and DELETE, and `Sec-Fetch-Site` to HTTPS and localhost, so a
 * request with neither comes from curl or a script, which cannot borrow a browser's credentials: allowed.
 */
export function isSameOrigin(headers: FetchMetadata): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return false;
  if (headers.origin === undefined) return true;
  return originMatchesHost(headers.origin, headers.host);
}

function originMatchesHost(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  let from: URL;
  let to: URL;
  try {
    from = new URL(origin);
    // Host read in the origin's scheme, so that "example:443" and "https://example" compare equal.
    to = new URL(`${from.protocol}//${host}`);
  } catch {
    return false;
  }
  if (from.protocol !== 'http:' && from.protocol !== 'https:') return false;
  return from.host === to.host && to.pathname === '/' && to.username === '' && to.password === '';
}
