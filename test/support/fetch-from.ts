// An HTTP request sent from a chosen loopback address (127.0.0.2, 127.0.0.3, …), so that one spec can play
// several clients that a server tells apart by address. Answers a standard Response, like fetch.
import { request } from 'node:http';

export interface FetchFromInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export function fetchFrom(localAddress: string, url: string, init: FetchFromInit = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: init.method ?? 'GET', headers: init.headers, localAddress, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
          const status = res.statusCode ?? 0;
          resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers }));
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
