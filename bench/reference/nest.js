// A floor, not a yardstick: the reference's contract (contract.js) in one bare NestJS controller on the Fastify
// adapter (no guard, pipe, filter, hook or logger). Its ratio to the node:http reference is what NestJS and Fastify
// cost before any of the service's own code. Plain JavaScript, so the decorators are applied by hand.
'use strict';
const { Controller, Get, Module, Post, Req, Res } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { FastifyAdapter } = require('@nestjs/platform-fastify');
const contract = require('./contract');

const send = (reply, { status, body, headers }) => {
  reply.code(status).headers(headers ?? {});
  return body;
};

class RegisterController {
  ready(reply) {
    return send(reply, contract.ready());
  }

  async register(request, reply) {
    return send(reply, await contract.register(request.headers.authorization, request.body ?? {}));
  }
}
const method = (name, ...decorators) => {
  const descriptor = Object.getOwnPropertyDescriptor(RegisterController.prototype, name);
  for (const decorate of decorators) decorate(RegisterController.prototype, name, descriptor);
};
Res({ passthrough: true })(RegisterController.prototype, 'ready', 0);
method('ready', Get('health/ready'));
Req()(RegisterController.prototype, 'register', 0);
Res({ passthrough: true })(RegisterController.prototype, 'register', 1);
method('register', Post('api/dm-jobqueue/register'));
Controller()(RegisterController);

class AppModule {}
Module({ controllers: [RegisterController] })(AppModule);

NestFactory.create(AppModule, new FastifyAdapter({ bodyLimit: 131_072 }), { logger: false }).then(async (app) => {
  await app.listen(contract.port, '127.0.0.1');
  const stop = () =>
    app
      .close()
      .then(() => contract.close())
      .finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
});
