// A floor, not a yardstick: the reference's contract (contract.js) served by bare Fastify, the HTTP layer under the
// service. Its ratio to the node:http reference is what the service's HTTP framework costs before any of our code.
'use strict';
const fastify = require('fastify')({ bodyLimit: 131_072 });
const contract = require('./contract');

const send = (reply, { status, body, headers }) =>
  reply
    .code(status)
    .headers(headers ?? {})
    .send(body);
fastify.get('/health/ready', (_request, reply) => send(reply, contract.ready()));
fastify.post('/api/dm-jobqueue/register', async (request, reply) =>
  send(reply, await contract.register(request.headers.authorization, request.body ?? {})),
);
fastify.listen({ port: contract.port, host: '127.0.0.1' });
const stop = () =>
  fastify
    .close()
    .then(() => contract.close())
    .finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
