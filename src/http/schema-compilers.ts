import type { FastifyServerOptions } from 'fastify';

type SchemaController = NonNullable<FastifyServerOptions['schemaController']>;
type CompilersFactory = NonNullable<SchemaController['compilersFactory']>;
type ValidatorFactory = NonNullable<CompilersFactory['buildValidator']>;
type SerializerFactory = NonNullable<CompilersFactory['buildSerializer']>;

/**
 * Fastify's own schema compilers (ajv for validation, fast-json-stringify for serialisation), loaded the first time
 * a route with a schema is declared instead of when Fastify is constructed. Fastify requires both in its constructor
 * (`buildSchemaController`) whether or not any route has a schema; no route of the API has one (class-validator
 * validates the bodies, the design card), so a start skips loading ajv and its ~90 files (bench/README.md,
 * start-up). By hand because Fastify has no option for it; `compilersFactory` is its documented hook.
 *
 * Passing a validator factory marks it "custom", so Fastify does not lower-case the property names of a `headers`
 * schema as it does for its default (lib/validation.js); a route with a `headers` schema must spell them lower-case.
 */
export function lazySchemaCompilers(): SchemaController {
  let validatorFactory: ValidatorFactory | undefined;
  let serializerFactory: SerializerFactory | undefined;
  /* eslint-disable @typescript-eslint/no-require-imports */
  return {
    compilersFactory: {
      buildValidator: (externalSchemas, ajvOptions) => {
        validatorFactory ??= (require('@fastify/ajv-compiler') as typeof import('@fastify/ajv-compiler'))();
        return validatorFactory(externalSchemas, ajvOptions);
      },
      buildSerializer: (externalSchemas, serializerOptions) => {
        serializerFactory ??= (
          require('@fastify/fast-json-stringify-compiler') as typeof import('@fastify/fast-json-stringify-compiler')
        ).SerializerSelector();
        return serializerFactory(externalSchemas, serializerOptions);
      },
    },
  };
  /* eslint-enable @typescript-eslint/no-require-imports */
}
