// The OpenAPI document (generated from the controllers and DTOs) and Swagger UI: GET /docs, GET /docs-json.
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegisterJobDto } from '../jobs/api/dto/register-job.dto';

export const DOCS_PATH = 'docs';
export const DOCS_JSON_PATH = 'docs-json';

/** True for the UI's routes (/docs, /docs/, /docs/index.html, /docs/<asset>), not for /docs-json. */
export const isDocsUiRoute = (url: string): boolean => url === `/${DOCS_PATH}` || url.startsWith(`/${DOCS_PATH}/`);

function serviceVersion(): string {
  try {
    // src/openapi or dist/openapi: the package.json is two levels up either way.
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('dm-jobqueue')
    .setDescription(
      'Authenticated REST job queue: register a job, it runs after its delay. Job routes need a JWT bearer ' +
        "token (HS256) with the scope named on each route (read or write). A token's `sub` is its tenant: it " +
        "sees only the jobs it registered (another tenant's job is a 404), unless it also has scope admin. " +
        'Errors have the body {statusCode, message, error}.',
    )
    .setVersion(serviceVersion())
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  const document = SwaggerModule.createDocument(app, config);
  // Unknown properties are refused (400); the decorators cannot say so, the schema can.
  const schema = document.components?.schemas?.[RegisterJobDto.name];
  if (schema && !('$ref' in schema)) schema.additionalProperties = false;
  return document;
}

/**
 * Serves the document and the UI as plain Fastify routes: Nest's global guards (JWT, rate limit) do not
 * run for them, so they are public and never rate limited. Call before app.init().
 */
export function setupOpenApi(app: INestApplication): void {
  SwaggerModule.setup(DOCS_PATH, app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: DOCS_JSON_PATH,
    // No /docs-yaml: one document URL is enough.
    raw: ['json'],
  });
}
