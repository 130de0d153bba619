// OpenAPI document and Swagger UI (SPEC 6.2): public, not rate limited, complete for the job routes.
import { RedisServer } from '../support/redis-server';
import { startApp, TestApp, testEnv } from '../support/app';

jest.setTimeout(30_000);

type Schema = Record<string, unknown> & { properties?: Record<string, Record<string, unknown>> };
type Operation = { responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }> } & {
  parameters?: { name: string; in: string }[];
  security?: Record<string, string[]>[];
};
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema>; securitySchemes?: Record<string, Record<string, unknown>> };
}

const REGISTER = '/api/dm-jobqueue/register';
const JOBS = '/api/dm-jobqueue/jobs';
const JOB = '/api/dm-jobqueue/jobs/{job_id}';
const SCHEDULES = '/api/dm-jobqueue/schedules';
const SCHEDULE = '/api/dm-jobqueue/schedules/{schedule_id}';
const STRICT_SCRIPT_SRC = "script-src 'self'";
const API_POLICY = "default-src 'none';frame-ancestors 'none'";

/** A response's `application/json` content, with its example(s). */
function jsonContent(
  operation: Operation,
  status: string,
): { example?: unknown; examples?: Record<string, { value: unknown }> } {
  const content = operation.responses[status]?.content?.['application/json'];
  expect(content).toBeDefined();
  return content as { example?: unknown; examples?: Record<string, { value: unknown }> };
}

/** The schema a response's JSON body refers to. */
function bodySchema(document: OpenApiDocument, operation: Operation, status: string): Schema {
  const schema = operation.responses[status]?.content?.['application/json']?.schema as { $ref?: string } | undefined;
  expect(schema?.$ref).toBeDefined();
  return document.components.schemas[schema!.$ref!.replace('#/components/schemas/', '')];
}

describe('OpenAPI documentation', () => {
  let redis: RedisServer;
  let app: TestApp;
  let document: OpenApiDocument;

  beforeAll(async () => {
    redis = await RedisServer.start();
    // A tiny rate limit: the documentation must not count against it.
    app = await startApp(testEnv(redis.url, { RATE_LIMIT_PER_MINUTE: '2' }));
    const response = await app.inject({ method: 'GET', url: '/docs-json' });
    expect(response.statusCode).toBe(200);
    document = response.json<OpenApiDocument>();
  });

  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  it('should answer /docs-json with JSON without a token, and never rate limit it', async () => {
    for (let i = 0; i < 5; i += 1) {
      const response = await app.inject({ method: 'GET', url: '/docs-json' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.headers['x-ratelimit-limit']).toBeUndefined();
    }
    expect(document.openapi).toMatch(/^3\./);
  });

  it('should still require a token on the job routes', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/api/dm-jobqueue/jobs/00000000-0000-4000-8000-000000000000',
    });
    expect(response.statusCode).toBe(401);
  });

  it('should declare a bearer security scheme used by the job routes', () => {
    const schemes = Object.values(document.components.securitySchemes ?? {});
    expect(schemes).toContainEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    const [name] = Object.keys(document.components.securitySchemes!);
    for (const operation of [document.paths[REGISTER].post, document.paths[JOB].get, document.paths[JOB].delete]) {
      expect(operation.security).toEqual([{ [name]: [] }]);
    }
    expect(document.paths['/health/live'].get.security).toBeUndefined();
  });

  it('should document every answer of register, with its body', () => {
    const register = document.paths[REGISTER].post;
    expect(Object.keys(register.responses).sort()).toEqual(
      expect.arrayContaining(['200', '201', '400', '401', '403', '409', '413', '415', '429', '503']),
    );
    for (const status of ['200', '201']) {
      expect(Object.keys(bodySchema(document, register, status).properties!).sort()).toEqual([
        'delay_seconds',
        'expires_at',
        'job_id',
        'max_retry',
        'run_at',
        'status',
      ]);
    }
    for (const status of ['400', '401', '403', '409', '413', '415', '429', '503']) {
      const error = bodySchema(document, register, status);
      expect(Object.keys(error.properties!).sort()).toEqual(['error', 'message', 'statusCode']);
      expect(error.properties!.message.oneOf).toEqual([
        { type: 'string' },
        { type: 'array', items: { type: 'string' } },
      ]);
    }
    expect(register.parameters).toContainEqual(expect.objectContaining({ name: 'Idempotency-Key', in: 'header' }));
    // Both 429s: the tenant's pending quota and the rate limit (with its headers).
    const tooMany = register.responses['429'] as { description: string; headers: Record<string, unknown> };
    expect(tooMany.description).toContain('Pending job quota exceeded');
    expect(tooMany.description).toContain('Too many requests');
    expect(Object.keys(tooMany.headers)).toEqual(expect.arrayContaining(['Retry-After', 'X-RateLimit-Limit']));
  });

  it('should describe the register body: five nullable properties, defaults, minimum 0, nothing else', () => {
    const dto = document.components.schemas.RegisterJobDto;
    expect(Object.keys(dto.properties!).sort()).toEqual([
      'delay_seconds',
      'expires_at',
      'max_retry',
      'message',
      'run_at',
    ]);
    for (const instant of ['run_at', 'expires_at']) {
      expect(dto.properties![instant]).toMatchObject({ type: 'string', format: 'date-time', nullable: true });
    }
    expect(dto.additionalProperties).toBe(false);
    expect(dto.required ?? []).toEqual([]);
    expect(dto.properties!.message).toMatchObject({
      type: 'string',
      nullable: true,
      default: 'Job executed successfully',
    });
    expect(dto.properties!.delay_seconds).toMatchObject({ type: 'integer', nullable: true, minimum: 0, default: 180 });
    expect(dto.properties!.max_retry).toMatchObject({ type: 'integer', nullable: true, minimum: 0, default: 10 });
    expect(dto.properties!.delay_seconds.description).toContain('JOB_MAX_DELAY_SECONDS');
  });

  it('should document GET job with the JobViewDto body and its state enum', () => {
    const get = document.paths[JOB].get;
    expect(Object.keys(get.responses)).toEqual(expect.arrayContaining(['200', '401', '403', '404', '503']));
    const view = bodySchema(document, get, '200');
    expect(view.properties!.state.enum).toEqual(['delayed', 'waiting', 'active', 'completed', 'failed', 'expired']);
    expect(Object.keys(view.properties!)).toHaveLength(14);
    expect(view.properties!.expires_at).toMatchObject({ type: 'string', format: 'date-time', nullable: true });
    expect(view.properties!.owner).toMatchObject({ type: 'string', nullable: true });
    expect(get.parameters).toContainEqual(expect.objectContaining({ name: 'job_id', in: 'path' }));
  });

  it('should document the job list with its query parameters and page body', () => {
    const list = document.paths[JOBS].get;
    expect(Object.keys(list.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '503']));
    expect(list.parameters!.map((parameter) => `${parameter.in}:${parameter.name}`).sort()).toEqual([
      'query:cursor',
      'query:limit',
      'query:owner',
      'query:state',
    ]);
    const page = bodySchema(document, list, '200');
    expect(Object.keys(page.properties!).sort()).toEqual(['jobs', 'next_cursor']);
    expect(page.properties!.next_cursor).toMatchObject({ type: 'string', nullable: true });
  });

  it('should document PATCH job with its body and its answers', () => {
    const patch = document.paths[JOB].patch as Operation & { requestBody?: { content: Record<string, unknown> } };
    expect(Object.keys(patch.responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '403', '404', '409', '503']),
    );
    expect(bodySchema(document, patch, '200')).toBe(document.components.schemas.JobViewDto);
    expect(Object.keys(document.components.schemas.RescheduleJobDto.properties!).sort()).toEqual([
      'delay_seconds',
      'run_at',
    ]);
    expect(patch.requestBody?.content['application/json']).toBeDefined();
  });

  it('should document DELETE job', () => {
    const remove = document.paths[JOB].delete;
    expect(Object.keys(remove.responses)).toEqual(expect.arrayContaining(['204', '401', '403', '404', '409', '503']));
    expect(remove.responses['204'].content).toBeUndefined();
  });

  it('should document the schedule routes with their bodies, bearer auth and answers', () => {
    const create = document.paths[SCHEDULES].post as Operation & { requestBody?: { content: Record<string, unknown> } };
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '403', '429', '503']));
    expect(bodySchema(document, create, '201')).toBe(document.components.schemas.ScheduleViewDto);
    expect(Object.keys(document.components.schemas.CreateScheduleDto.properties!).sort()).toEqual([
      'cron',
      'end_at',
      'every_seconds',
      'limit',
      'max_retry',
      'message',
      'start_at',
      'tz',
    ]);
    expect(create.requestBody?.content['application/json']).toBeDefined();
    const list = document.paths[SCHEDULES].get;
    expect(list.parameters!.map((parameter) => `${parameter.in}:${parameter.name}`).sort()).toEqual([
      'query:cursor',
      'query:limit',
      'query:owner',
    ]);
    expect(Object.keys(bodySchema(document, list, '200').properties!).sort()).toEqual(['next_cursor', 'schedules']);
    const read = document.paths[SCHEDULE].get;
    expect(Object.keys(read.responses)).toEqual(expect.arrayContaining(['200', '401', '403', '404', '503']));
    const view = bodySchema(document, read, '200');
    expect(Object.keys(view.properties!)).toEqual(
      expect.arrayContaining(['schedule_id', 'next_run_at', 'occurrences']),
    );
    expect(view.properties!.state.enum).toEqual(['active', 'ended']);
    const remove = document.paths[SCHEDULE].delete;
    expect(Object.keys(remove.responses)).toEqual(expect.arrayContaining(['204', '401', '403', '404', '503']));
    for (const operation of [create, list, read, remove]) expect(operation.security).toEqual([{ bearer: [] }]);
  });

  it('should document the health and metrics endpoints', () => {
    expect(Object.keys(document.paths['/health/ready'].get.responses).sort()).toEqual(['200', '503']);
    expect(Object.keys(document.paths['/metrics'].get.responses['200'].content!)[0]).toMatch(/^text\/plain/);
  });

  it('should document liveness as 200 only, with the body it really answers', async () => {
    const live = document.paths['/health/live'].get;
    expect(Object.keys(live.responses)).toEqual(['200']);
    const actual = await app.inject({ method: 'GET', url: '/health/live' });
    expect(actual.json()).toEqual({ status: 'ok', info: {}, error: {}, details: {} });
    expect(jsonContent(live, '200').example).toEqual(actual.json());
  });

  it('should document readiness with our checks: redis and worker up, and the real 503 bodies', async () => {
    const ready = document.paths['/health/ready'].get;
    const ok = Object.values(jsonContent(ready, '200').examples!).map((example) => example.value);
    const actual = (await app.inject({ method: 'GET', url: '/health/ready' })).json<{
      details: Record<string, object>;
    }>();
    expect(ok).toEqual([
      {
        status: 'ok',
        info: { redis: { status: 'up', latency_ms: expect.any(Number) }, worker: { status: 'up' } },
        error: {},
        details: { redis: { status: 'up', latency_ms: expect.any(Number) }, worker: { status: 'up' } },
      },
    ]);
    expect(Object.keys((ok[0] as { details: object }).details).sort()).toEqual(Object.keys(actual.details).sort());

    const down = Object.values(jsonContent(ready, '503').examples!).map((example) => example.value);
    expect(down).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          status: 'error',
          error: { redis: { status: 'down', message: 'connection reconnecting' } },
        }),
        expect.objectContaining({
          status: 'error',
          error: { redis: { status: 'down', message: 'PING timed out after 500 ms' } },
        }),
        expect.objectContaining({
          status: 'error',
          error: { worker: { status: 'down', message: 'worker is not running' } },
        }),
        { status: 'shutting_down', info: {}, error: {}, details: {} },
      ]),
    );
  });

  it("should carry none of terminus's generic examples", () => {
    expect(JSON.stringify(document)).not.toMatch(/database|Could not connect/);
  });

  it('should serve the UI at /docs without a token, with a policy that lets it load', async () => {
    const response = await app.inject({ method: 'GET', url: '/docs' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body).toContain('swagger-ui-bundle.js');
    const policy = String(response.headers['content-security-policy']);
    expect(policy).toContain(STRICT_SCRIPT_SRC); // its scripts come from /docs itself
    expect(policy).toMatch(/style-src [^;]*'unsafe-inline'/);
    expect(policy).not.toContain('upgrade-insecure-requests'); // works over plain HTTP too
    // A web page's other helmet headers, not the API's.
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['cross-origin-opener-policy']).toBe('same-origin');
    for (const asset of ['/docs/swagger-ui-bundle.js', '/docs/swagger-ui-init.js', '/docs/swagger-ui.css']) {
      expect((await app.inject({ method: 'GET', url: asset })).statusCode).toBe(200);
    }
  });

  it("should keep the API's headers everywhere else", async () => {
    for (const url of ['/health/live', '/docs-json', REGISTER]) {
      const response = await app.inject({ method: url === REGISTER ? 'POST' : 'GET', url });
      expect(response.headers['content-security-policy']).toBe(API_POLICY);
      expect(response.headers['x-frame-options']).toBe('DENY');
      expect(response.headers['referrer-policy']).toBeUndefined();
    }
  });
});
