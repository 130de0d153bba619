// Abusive HTTP clients (SPEC 6.6) against the built server: pipelined requests on connections that go away or
// never read, bodies that trickle in, uploads that are cut off, URLs Fastify refuses before Nest routes them.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { request, STATUS_CODES } from 'node:http';
import { connect, Socket } from 'node:net';
import { testEnv } from '../support/app';
import { RedisServer } from '../support/redis-server';
import { ServerProcess } from '../support/server-process';
import { bearer } from '../support/tokens';
import { eventually, sleep } from '../support/wait';

jest.setTimeout(90_000);

const BUNDLE = '/docs/swagger-ui-bundle.js';
const BUNDLE_BYTES = statSync(require.resolve('swagger-ui-dist/swagger-ui-bundle.js')).size;
const REGISTER = '/api/dm-jobqueue/register';
/** Descriptors the server may open or close on its own meanwhile (a Redis reconnect, a timer's pipe). */
const FD_SLACK = 5;

const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
const rssBytes = (pid: number): number =>
  Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1_024;
const MiB = 1_024 * 1_024;

/** Polls `read` until `done` holds for its value or `timeoutMs` passes; returns the last value read. */
async function pollUntil<T>(read: () => T, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  let value = read();
  if (done(value)) return value;
  await eventually(() => (done((value = read())) ? true : undefined), timeoutMs, 'condition', 50).catch(
    () => undefined,
  );
  return value;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => resolve(socket)).once('error', reject);
  });
}

const written = (socket: Socket, data: string | Buffer): Promise<void> =>
  new Promise((resolve, reject) => socket.write(data, (error) => (error ? reject(error) : resolve())));

const pipelined = (path: string, depth: number): string =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`.repeat(depth);

/** One request on a connection of its own (no keep-alive socket left behind to count), body as bytes. */
function fetchOnce(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { connection: 'close', ...headers }, agent: false });
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** Access-log lines (pino JSON) the server wrote after `offset` characters of its output. */
const logLines = (server: ServerProcess, offset = 0): Record<string, unknown>[] =>
  server.stdout
    .slice(offset)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('abusive HTTP clients on the built server', () => {
  let redis: RedisServer;
  let server: ServerProcess;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    server = await ServerProcess.start(testEnv(redis.url, { LOG_LEVEL: 'info', RATE_LIMIT_PER_MINUTE: '0' }));
    await server.untilReady();
  });

  afterEach(() => {
    sockets.splice(0).forEach((socket) => socket.destroy());
  });

  afterAll(async () => {
    await server?.kill();
    await redis?.close();
  });

  /** The server's descriptors once it has served the bundle once (files and modules it opens lazily). */
  async function fdBaseline(): Promise<number> {
    expect((await fetchOnce(server.port, BUNDLE)).status).toBe(200);
    return fdCount(server.child.pid!);
  }

  describe('pipelined requests for a file (X5)', () => {
    it('should serve the Swagger UI bundle whole', async () => {
      const response = await fetchOnce(server.port, BUNDLE);

      expect(response.status).toBe(200);
      expect(response.body.length).toBe(BUNDLE_BYTES);
    });

    it('should release every descriptor of connections closed without reading their pipelined responses', async () => {
      const pid = server.child.pid!;
      const baseline = await fdBaseline();

      for (let i = 0; i < 20; i++) {
        const socket = await open(server.port);
        socket.on('error', () => undefined);
        const answering = new Promise((resolve) => socket.once('data', resolve).once('close', resolve));
        await written(socket, pipelined(BUNDLE, 200));
        // Once the first response starts (or the server hangs up), it has parsed the requests: the rest stay
        // unanswered.
        await answering;
        socket.destroy();
      }
      // Files are opened off the event loop: a request served after the attack has waited behind them.
      expect((await fetchOnce(server.port, BUNDLE)).status).toBe(200);

      const after = await pollUntil(
        () => fdCount(pid),
        (count) => count <= baseline + FD_SLACK,
        15_000,
      );
      expect(after).toBeLessThanOrEqual(baseline + FD_SLACK);
      const response = await fetchOnce(server.port, BUNDLE);
      expect(response.status).toBe(200);
      expect(response.body.length).toBe(BUNDLE_BYTES);
    });

    it('should disconnect clients that pipeline many requests and never read, without holding their memory', async () => {
      const pid = server.child.pid!;
      const baseline = await fdBaseline();
      const rssBefore = rssBytes(pid);
      const closed: Promise<void>[] = [];

      for (let i = 0; i < 10; i++) {
        const socket = await open(server.port);
        socket.on('error', () => undefined).pause();
        sockets.push(socket);
        closed.push(new Promise((resolve) => socket.once('close', () => resolve())));
        await written(socket, pipelined(BUNDLE, 1_000));
      }
      let peak = rssBytes(pid);
      let allClosed = false;
      void Promise.all(closed).then(() => (allClosed = true));
      await pollUntil(
        () => (peak = Math.max(peak, rssBytes(pid))),
        () => allClosed,
        10_000,
      );

      // The server drops each connection past the pipelining limit.
      expect(allClosed).toBe(true);
      // At most 16 queued file responses per connection, each holding one 64 KiB chunk of the file: about
      // 10 MiB for ten; the rest of the bound is headroom for the garbage of parsing 10 000 requests.
      expect(peak - rssBefore).toBeLessThan(96 * MiB);
      const after = await pollUntil(
        () => fdCount(pid),
        (count) => count <= baseline + FD_SLACK,
        15_000,
      );
      expect(after).toBeLessThanOrEqual(baseline + FD_SLACK);
    });

    it('should hold at most one file for a connection that pipelines within the limit and never reads, and free it when it goes', async () => {
      const pid = server.child.pid!;
      const baseline = await fdBaseline();
      const connections = 40;

      for (let i = 0; i < connections; i++) {
        const socket = await open(server.port);
        socket.on('error', () => undefined).pause();
        sockets.push(socket);
        await written(socket, pipelined(BUNDLE, 16));
      }
      // Every connection is in (its socket is a descriptor): then the highest count over a second.
      await pollUntil(
        () => fdCount(pid),
        (count) => count >= baseline + connections,
        15_000,
      );
      let peak = 0;
      await pollUntil(
        () => (peak = Math.max(peak, fdCount(pid))),
        () => false,
        1_000,
      );

      expect(peak).toBeGreaterThanOrEqual(baseline + connections);
      // Its socket and at most the one file its response in progress reads (the others wait their turn).
      expect(peak).toBeLessThanOrEqual(baseline + 2 * connections + FD_SLACK);
      sockets.splice(0).forEach((socket) => socket.destroy());
      const after = await pollUntil(
        () => fdCount(pid),
        (count) => count <= baseline + FD_SLACK,
        15_000,
      );
      expect(after).toBeLessThanOrEqual(baseline + FD_SLACK);
    });
  });

  describe('paths of the Swagger UI that its file server refuses (X5)', () => {
    it.each(['/docs/%2e%2e/package.json', '/docs/%2e%2e/%2e%2e/package.json', '/docs/./swagger-ui.css', '/docs/a%00'])(
      "should answer %s with a 4xx in the API's shape and log no error",
      async (path) => {
        const offset = server.stdout.length;

        const response = await fetchOnce(server.port, path);

        expect(response.status).toBeGreaterThanOrEqual(400);
        expect(response.status).toBeLessThan(500);
        const reason = STATUS_CODES[response.status];
        expect(JSON.parse(response.body.toString())).toEqual({
          statusCode: response.status,
          message: reason,
          error: reason,
        });
        expect(response.body.toString()).not.toContain('package.json');
        const reqId = response.headers['x-request-id'] as string;
        await server.waitForOutput(new RegExp(`"reqId":"${reqId}"`));
        const lines = logLines(server, offset);
        expect(lines.find((line) => line.reqId === reqId)).toMatchObject({
          msg: 'request completed',
          statusCode: response.status,
        });
        expect(lines.filter((line) => line.level === 'error' || line.level === 'fatal')).toEqual([]);
      },
    );
  });

  describe('with HTTP_REQUEST_TIMEOUT_MS=1000 (X6)', () => {
    let timed: ServerProcess;

    beforeAll(async () => {
      timed = await ServerProcess.start(testEnv(redis.url, { HTTP_REQUEST_TIMEOUT_MS: '1000' }));
      await timed.untilReady();
    });

    afterAll(async () => {
      await timed?.kill();
    });

    it('should answer a body that trickles in with 408 or close its connection within a few seconds', async () => {
      const socket = await open(timed.port);
      sockets.push(socket);
      let received = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
      socket.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const started = Date.now();
      const head = 'Host: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n';
      await written(socket, `POST ${REGISTER} HTTP/1.1\r\n${head}\r\n{`);
      const trickle = setInterval(() => socket.writable && socket.write(' '), 200);

      let done = false;
      void closed.then(() => (done = true));
      await pollUntil(
        () => done,
        (value) => value,
        6_000,
      );
      clearInterval(trickle);

      expect(done).toBe(true);
      expect(Date.now() - started).toBeLessThan(4_000);
      if (received !== '') {
        const [head, body] = received.split('\r\n\r\n');
        expect(head).toMatch(/^HTTP\/1\.1 408 /);
        expect(head).toMatch(/^x-content-type-options: nosniff$/m);
        expect(head).toMatch(/^x-request-id: [0-9a-f-]{36}$/m);
        expect(JSON.parse(body)).toEqual({ statusCode: 408, message: 'Request timed out', error: 'Request Timeout' });
      }
    });

    it('should drop a connection that stops reading its response for longer than the timeout', async () => {
      const pid = timed.child.pid!;
      expect((await fetchOnce(timed.port, BUNDLE)).status).toBe(200);
      const baseline = fdCount(pid);
      const socket = await open(timed.port);
      socket.on('error', () => undefined).pause();
      sockets.push(socket);
      let closed = false;
      socket.once('close', () => (closed = true));

      // More than the socket buffers on both ends take (16 bundles of 1.5 MB), so the server's writes stall while
      // the client reads nothing, for three times the timeout.
      await written(socket, pipelined(BUNDLE, 16));
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      // Then the client reads again: it gets what was queued before the server let go, then the close, far short
      // of the 16 responses. (A server without the timeout would send all 16 and keep the connection open.)
      let received = 0;
      socket.on('data', (chunk: Buffer) => (received += chunk.length)).resume();
      await pollUntil(
        () => closed,
        (value) => value,
        10_000,
      );

      expect(received).toBeGreaterThan(0);
      expect(closed).toBe(true);
      expect(received).toBeLessThan(4 * BUNDLE_BYTES);
      // The server holds nothing of it any more (neither the socket nor the file it was sending), and serves the
      // next client.
      expect(
        await pollUntil(
          () => fdCount(pid),
          (count) => count <= baseline,
          5_000,
        ),
      ).toBeLessThanOrEqual(baseline);
      expect((await fetchOnce(timed.port, BUNDLE)).status).toBe(200);
    });

    it('should still register a job sent at a normal pace', async () => {
      const response = await timed.register({ delay_seconds: 3600 });

      expect(response.status).toBe(201);
    });
  });

  describe('aborted uploads (X7)', () => {
    it('should log no error for 50 uploads the client cut off', async () => {
      const offset = server.stdout.length;
      const head = (length: number) =>
        `POST ${REGISTER} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${bearer().authorization}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

      for (let i = 0; i < 50; i++) {
        const socket = await open(server.port);
        socket.on('error', () => undefined);
        await written(socket, `${head(1_000)}{"message":"${'x'.repeat(100)}`);
        // Give the server the time to start reading the body; the 'request aborted' lines below confirm it did.
        await sleep(20);
        socket.destroy();
      }
      const aborted = () =>
        logLines(server, offset).filter((line) => line.msg === 'request aborted' && line.route === REGISTER);
      expect((await pollUntil(aborted, (lines) => lines.length >= 50, 10_000)).length).toBe(50);
      const sentinel = await fetchOnce(server.port, '/no/such/route', { 'x-request-id': 'after-the-aborted-uploads' });
      expect(sentinel.status).toBe(404);
      await server.waitForOutput(/"reqId":"after-the-aborted-uploads"/);

      const lines = logLines(server, offset);
      expect(
        lines.filter((line) => line.level === 'error' || line.level === 'fatal' || Number(line.level) >= 50),
      ).toEqual([]);
      expect(server.stdout.slice(offset) + server.stderr).not.toContain('Error: aborted');
    });
  });

  describe('errors Fastify raises before Nest routes the request (X8)', () => {
    const expectApiHeaders = (headers: Record<string, string | string[] | undefined>): void => {
      expect(headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
      expect(headers['x-content-type-options']).toBe('nosniff');
      expect(headers['x-frame-options']).toBe('DENY');
    };

    it('should answer a job id of 3 000 characters with 404 Job not found', async () => {
      const response = await fetchOnce(server.port, `/api/dm-jobqueue/jobs/${'a'.repeat(3_000)}`, bearer());

      expect(response.status).toBe(404);
      expect(JSON.parse(response.body.toString())).toEqual({
        statusCode: 404,
        message: 'Job not found',
        error: 'Not Found',
      });
      expectApiHeaders(response.headers);
    });

    it("should answer headers over Node's limit with 431 in the API's shape and headers", async () => {
      const socket = await open(server.port);
      sockets.push(socket);
      let received = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
      const closed = new Promise((resolve) => socket.once('close', resolve));
      await written(socket, `GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`);
      await closed;

      const [head, body] = received.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 431 /);
      expect(head).toMatch(/^content-security-policy: default-src 'none';frame-ancestors 'none'$/m);
      expect(head).toMatch(/^x-request-id: [0-9a-f-]{36}$/m);
      expect(JSON.parse(body)).toEqual({
        statusCode: 431,
        message: 'Request headers are too large',
        error: 'Request Header Fields Too Large',
      });
    });

    it("should answer a malformed URL with 400 in the API's shape and headers, and log it", async () => {
      const response = await fetchOnce(server.port, '/api/dm-jobqueue/jobs/%', bearer());

      expect(response.status).toBe(400);
      expect(JSON.parse(response.body.toString())).toEqual({
        statusCode: 400,
        message: 'Malformed URL',
        error: 'Bad Request',
      });
      expectApiHeaders(response.headers);
      const reqId = response.headers['x-request-id'] as string;
      await server.waitForOutput(new RegExp(`"reqId":"${reqId}"`));
      expect(logLines(server).find((line) => line.reqId === reqId)).toMatchObject({
        level: 'info',
        msg: 'request completed',
        method: 'GET',
        route: 'unmatched',
        statusCode: 400,
      });
    });
  });
});
