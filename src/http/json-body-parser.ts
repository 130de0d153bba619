// The service's only request body parser.
import { BadRequestException, UnsupportedMediaTypeException } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { isUtf8 } from 'node:buffer';
import sjson from 'secure-json-parse';

/** A `charset` parameter of the Content-Type, unquoted; undefined when there is none. */
function charsetOf(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(contentType ?? '');
  return match === null ? undefined : (match[1] ?? match[2]);
}

/**
 * The only body parser: JSON objects in UTF-8. Anything else is 415 (another charset too); bytes that are not
 * UTF-8 are 400 rather than decoded into U+FFFD; an empty body is `{}`; "__proto__" and "constructor.prototype"
 * keys are refused (prototype pollution) rather than silently dropped.
 */
export function registerJsonParser(fastify: FastifyInstance): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const charset = charsetOf(request.headers['content-type']);
    if (charset !== undefined && charset.toLowerCase() !== 'utf-8') {
      return done(new UnsupportedMediaTypeException('Unsupported charset: request bodies must be UTF-8'), undefined);
    }
    if (!isUtf8(body as Buffer)) return done(new BadRequestException('Request body is not valid UTF-8'), undefined);
    const text = (body as Buffer).toString('utf8').trim();
    if (text === '') return done(null, {});
    try {
      done(null, sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (error) {
      // secure-json-parse reports "__proto__" / "constructor.prototype" keys as a SyntaxError too.
      const forbidden = error instanceof Error && /forbidden/i.test(error.message);
      const reason = forbidden
        ? 'Request body contains a forbidden key (__proto__ or constructor.prototype)'
        : 'Malformed JSON in request body';
      // An HttpException reaches HttpExceptionFilter through Nest's Fastify error handler.
      done(new BadRequestException(reason), undefined);
    }
  });
}
