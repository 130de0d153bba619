import { createServer, type AddressInfo } from 'node:net';

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago: binds a
 * throw-away server on port 0, reads the port the kernel picked, closes it.
 *
 * There is an unavoidable race between closing and the caller binding the
 * port; callers that spawn servers should be ready to retry on EADDRINUSE.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const { port } = srv.address() as AddressInfo;
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
