// What one connection may hold: one request in work at a time, a bounded pipeline, no response the client does not
// read for longer than the request timeout, and no stream that outlives the connection.
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * Requests one connection may have waiting for their response to be written. A client that pipelines past it
 * is disconnected: Node parses every request a client sends at once, so without a bound one write could queue
 * any number of them.
 */
export const MAX_UNANSWERED_PER_CONNECTION = 16;

interface ConnectionState {
  unanswered: number;
  closed: boolean;
  /** onRequest callbacks of pipelined requests waiting for the one before them to be answered. */
  waiting: Array<() => void>;
  /** Stream payloads of this connection's responses that have not ended yet. */
  streams: Set<Readable>;
}

const isStream = (payload: unknown): payload is Readable =>
  typeof payload === 'object' && payload !== null && typeof (payload as Readable).pipe === 'function';

/**
 * - Pipelined requests are handled one after the other, each once the one before it is answered (Node writes
 *   their responses in that order anyway). A file response (Swagger UI, dashboard assets) holds a descriptor and a
 *   read chunk from the moment its handler runs, so handling them all at once let one connection that never reads
 *   hold sixteen files, and a thousand such connections every descriptor of the process.
 * - While a stream response (a file) is being written, a connection on which no byte moves for `stallTimeoutMs`
 *   (the client stopped reading) is destroyed. Other responses are small enough for the socket's buffers; an idle
 *   keep-alive connection is left to Fastify's keepAliveTimeout.
 * - On Node 20 (where it was measured) a pipelined response still queued behind another never emits 'close' when
 *   its socket goes away, so Fastify never destroys its stream payload: one 'close' listener per socket does.
 */
export function guardConnections(
  fastify: FastifyInstance,
  stallTimeoutMs: number,
  maxUnanswered = MAX_UNANSWERED_PER_CONNECTION,
): void {
  const connections = new WeakMap<Socket, ConnectionState>();

  const stateOf = (socket: Socket): ConnectionState => {
    let state = connections.get(socket);
    if (state === undefined) {
      const created: ConnectionState = { unanswered: 0, closed: socket.destroyed, waiting: [], streams: new Set() };
      socket.once('close', () => {
        created.closed = true;
        created.waiting.length = 0;
        for (const stream of created.streams) stream.destroy();
        created.streams.clear();
      });
      connections.set(socket, created);
      state = created;
    }
    return state;
  };

  fastify.addHook('onRequest', (request, reply, done) => {
    const socket = request.raw.socket;
    const state = stateOf(socket);
    state.unanswered += 1;
    if (state.closed || state.unanswered > maxUnanswered) {
      // Nothing more runs for this request (no handler, no job registered): the connection is dropped.
      reply.hijack();
      socket.destroy();
      return done();
    }
    // The raw response's own 'finish', not Fastify's onResponse: that also runs for answers given before this
    // hook (a CORS preflight), which were never counted here.
    reply.raw.once('finish', () => {
      state.unanswered -= 1;
      state.waiting.shift()?.();
    });
    if (state.unanswered === 1) return done();
    state.waiting.push(done);
  });

  fastify.addHook('onSend', (request, reply, payload, done) => {
    if (!isStream(payload)) return done(null, payload);
    const socket = request.raw.socket;
    const state = stateOf(socket);
    if (state.closed) {
      // The client left while the file was being opened: nobody will read it.
      payload.destroy();
      return done(null, null);
    }
    state.streams.add(payload);
    payload.once('close', () => state.streams.delete(payload));
    dropWhenStalled(socket, reply.raw, stallTimeoutMs);
    done(null, payload);
  });
}

/**
 * Destroys `socket` when none of its bytes went out for `stallTimeoutMs` before `response` finished. Its own timer
 * rather than socket.setTimeout(), which Node's HTTP server sets and clears itself for keep-alive.
 */
function dropWhenStalled(socket: Socket, response: ServerResponse, stallTimeoutMs: number): void {
  let written = socket.bytesWritten;
  const timer = setTimeout(() => {
    if (socket.destroyed || response.writableFinished) return;
    if (socket.bytesWritten === written) return void socket.destroy();
    written = socket.bytesWritten;
    timer.refresh();
  }, stallTimeoutMs);
  timer.unref();
}
