// The yardstick: what a careful engineer writes by hand with node:http for the same contract as
// POST /api/dm-jobqueue/register and its register/batch (contract.js: the same HS256 check, validation, defaults,
// quota, index and BullMQ adds).
// No framework, no logging on the request path.
'use strict';
const http = require('node:http');
const contract = require('./contract');

function send(res, { status, body, headers }) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

const routes = {
  '/api/dm-jobqueue/register': contract.register,
  '/api/dm-jobqueue/register/batch': contract.registerBatch,
};

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health/ready') return send(res, contract.ready());
  const route = req.method === 'POST' ? routes[req.url] : undefined;
  if (route === undefined) return send(res, contract.failure(404, 'Not Found'));
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let body;
    try {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      return send(res, contract.failure(400, 'Malformed JSON in request body'));
    }
    route(req.headers.authorization, body).then((answer) => send(res, answer));
  });
});
server.keepAliveTimeout = 72_000;
server.listen(contract.port, '127.0.0.1', () =>
  process.stdout.write(`Listening on http://127.0.0.1:${contract.port}\n`),
);
const stop = () => server.close(() => contract.close().finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
