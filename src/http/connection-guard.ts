// What one connection may hold: stream responses die with their connection, and pipelining has a depth limit.
import type { FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * Requests one connection may have waiting for their response to be written. A client that pipelines past it
 * is disconnected: each waiting file response (Swagger UI, dashboard assets) holds a descriptor and one read
 * chunk, so without a bound a client that never reads makes the server hold memory for as long as it likes.
 */
export const MAX_UNANSWERED_PER_CONNECTION = 16;

interface ConnectionState {
  unanswered: number;
  closed: boolean;
  /** Stream payloads of this connection's responses that have not ended yet. */
  streams: Set<Readable>;
}

const isStream = (payload: unknown): payload is Readable =>
  typeof payload === 'object' && payload !== null && typeof (payload as Readable).pipe === 'function';

/**
 * On Node 20 (where it was measured) a pipelined response still queued behind another never emits 'close' when
 * its socket goes away, so Fastify never destroys its stream payload (an open file for good). One 'close'
 * listener per socket destroys what its responses still stream, whichever runtime does or does not.
 */
export function guardConnections(fastify: FastifyInstance, maxUnanswered = MAX_UNANSWERED_PER_CONNECTION): void {
  const connections = new WeakMap<Socket, ConnectionState>();

  const stateOf = (socket: Socket): ConnectionState => {
    let state = connections.get(socket);
    if (state === undefined) {
      const created: ConnectionState = { unanswered: 0, closed: socket.destroyed, streams: new Set() };
      socket.once('close', () => {
        created.closed = true;
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
    }
    done();
  });

  fastify.addHook('onSend', (request, _reply, payload, done) => {
    if (!isStream(payload)) return done(null, payload);
    const state = stateOf(request.raw.socket);
    if (state.closed) {
      // The client left while the file was being opened: nobody will read it.
      payload.destroy();
      return done(null, null);
    }
    state.streams.add(payload);
    payload.once('close', () => state.streams.delete(payload));
    done(null, payload);
  });

  fastify.addHook('onResponse', (request, _reply, done) => {
    const state = connections.get(request.raw.socket);
    if (state !== undefined) state.unanswered -= 1;
    done();
  });
}
