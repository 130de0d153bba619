// POST /api/dm-jobqueue/register through the real AppModule: defaults, execution, and every 4xx of SPEC 5.1/5.2.
import type { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { startApp, TestApp, testEnv } from '../support/app';
import { JobLines } from '../support/job-lines';
import { serviceQueue, storedJobs as countJobs } from '../support/queue';
import { externalRedisUrl, RedisServer } from '../support/redis-server';
import { bearer, token } from '../support/tokens';
import { untilSentinelPrinted } from '../support/sentinel';

jest.setTimeout(30_000);

const REGISTER = '/api/dm-jobqueue/register';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
// A private prefix, so a shared REDIS_URL never mixes these jobs with anyone else's.
const PREFIX = `{dm-jobqueue-e2e-${randomUUID().slice(0, 8)}}`;

describe('POST /api/dm-jobqueue/register', () => {
  let server: RedisServer | undefined;
  let app: TestApp;
  let queue: Queue;
  let lines: JobLines;

  beforeAll(async () => {
    const url = externalRedisUrl() ?? (server = await RedisServer.start()).url;
    lines = new JobLines();
    app = await startApp(
      testEnv(url, {
        QUEUE_PREFIX: PREFIX,
        JOB_MAX_DELAY_SECONDS: '3600',
        JOB_MAX_RETRY: '20',
        JOB_MESSAGE_MAX_LENGTH: '20',
        BODY_LIMIT_BYTES: '4096',
      }),
    );
    queue = serviceQueue(url, PREFIX);
  });

  afterAll(async () => {
    await app?.close();
    await queue?.obliterate({ force: true }); // only this spec's own prefix
    await queue?.close();
    lines?.restore();
    await server?.close();
  });

  const register = (body?: unknown, headers: Record<string, string> = bearer()) =>
    app.inject({
      method: 'POST',
      url: REGISTER,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });

  const storedJobs = () => countJobs(queue);

  describe('defaults', () => {
    it.each([
      ['no body at all', undefined],
      ['an empty JSON body', ''],
      ['{}', {}],
      ['nulls', { message: null, delay_seconds: null, max_retry: null }],
      ['an empty message', { message: '' }],
    ])('should store the documented defaults for %s', async (_, body) => {
      const response = await register(body);

      expect(response.statusCode).toBe(201);
      const created = response.json();
      expect(created).toEqual({
        job_id: expect.stringMatching(UUID_V4),
        status: 'registered',
        delay_seconds: 180,
        max_retry: 10,
        run_at: expect.any(String),
        expires_at: null,
      });
      expect(Date.parse(created.run_at) - Date.now()).toBeGreaterThan(170_000);
      const job = await queue.getJob(created.job_id);
      expect(job?.data).toEqual({
        message: 'Job executed successfully',
        delay_seconds: 180,
        max_retry: 10,
        run_at: Date.parse(created.run_at),
        owner: 'e2e',
      });
      expect(job!.data.run_at - job!.timestamp).toBe(180_000);
      expect(job?.opts).toMatchObject({ delay: 180_000, attempts: 11, backoff: { type: 'exponential' } });
      expect(await job?.getState()).toBe('delayed');
    });

    it('should keep explicit values, including zero retries', async () => {
      const response = await register({ message: 'kept', delay_seconds: 3600, max_retry: 0 });

      expect(response.statusCode).toBe(201);
      const job = await queue.getJob(response.json().job_id);
      expect(job?.data).toEqual({
        message: 'kept',
        delay_seconds: 3600,
        max_retry: 0,
        run_at: job!.timestamp + 3_600_000,
        owner: 'e2e',
      });
      expect(job?.opts.attempts).toBe(1);
    });
  });

  describe('execution', () => {
    it('should print the message after its delay, once, in local time', async () => {
      const before = Date.now();
      const response = await register({ message: 'Hello, World!', delay_seconds: 1 });
      expect(response.statusCode).toBe(201);

      const [line] = await lines.waitFor((l) => l.endsWith('] Hello, World!'));
      const printedAt = line.slice(1, 20);
      const [date, time] = printedAt.split(' ');
      const printed = new Date(`${date}T${time}`); // parsed as local time, like it was printed
      expect(printed.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      const job = await queue.getJob(response.json().job_id);
      expect(await job?.getState()).toBe('completed');
      expect(job!.processedOn! - job!.timestamp).toBeGreaterThanOrEqual(1_000); // never early
      await untilSentinelPrinted(
        (body) => register(body),
        (message) => lines.printed(message).length,
      );
      expect(lines.lines.filter((l) => l.endsWith('] Hello, World!'))).toHaveLength(1);
    });

    it('should print control characters escaped, on one line', async () => {
      const message = 'a\nb\x1b[31m\u2028';
      const response = await register({ message, delay_seconds: 0 });
      expect(response.statusCode).toBe(201);

      const [line] = await lines.waitFor((l) => l.includes('] a\\n'));
      expect(line).toMatch(/^\[[\d :-]{19}\] a\\nb\\x1b\[31m\\u2028$/);
    });
  });

  describe('errors', () => {
    const readOnly = bearer(token({ scope: ['read'] }));
    it.each<[string, unknown, Record<string, string> | undefined, number, unknown]>([
      ['no Authorization header', {}, {}, 401, 'Authorization header is required'],
      ['a token signed with another secret', {}, bearer(token({ secret: 'x'.repeat(40) })), 401, 'Invalid token'],
      ['a read-only token', {}, readOnly, 403, 'Insufficient scope'],
      [
        'delay_seconds as a string',
        { delay_seconds: '5' },
        undefined,
        400,
        ['delay_seconds must be an integer number'],
      ],
      [
        'delay_seconds as a fraction',
        { delay_seconds: 1.5 },
        undefined,
        400,
        ['delay_seconds must be an integer number'],
      ],
      ['max_retry as a boolean', { max_retry: true }, undefined, 400, ['max_retry must be an integer number']],
      ['message as a number', { message: 5 }, undefined, 400, ['message must be a string']],
      ['a negative delay', { delay_seconds: -1 }, undefined, 400, ['delay_seconds must not be less than 0']],
      [
        'a delay past the bound',
        { delay_seconds: 3601 },
        undefined,
        400,
        ['delay_seconds must not be greater than 3600'],
      ],
      ['max_retry past the bound', { max_retry: 21 }, undefined, 400, ['max_retry must not be greater than 20']],
      [
        'a message one character too long',
        { message: '😀'.repeat(21) },
        undefined,
        400,
        ['message must be shorter than or equal to 20 characters'],
      ],
      ['an unknown property', { jobId: 'mine' }, undefined, 400, ['property jobId should not exist']],
      ['a BullMQ option', { attempts: 1000 }, undefined, 400, ['property attempts should not exist']],
      ['malformed JSON', '{"message":', undefined, 400, 'Malformed JSON in request body'],
      ['a JSON array', [], undefined, 400, 'Request body must be a JSON object'],
      ['a JSON string', '"hello"', undefined, 400, 'Request body must be a JSON object'],
    ])('should answer %s with %#', async (_, body, headers, status, message) => {
      const before = await storedJobs();
      const response = await register(body, headers ?? bearer());

      expect(response.statusCode).toBe(status);
      expect(response.json()).toEqual({ statusCode: status, message, error: expect.any(String) });
      expect(await storedJobs()).toBe(before);
    });

    it('should accept a message of exactly the maximum length in characters', async () => {
      const response = await register({ message: '😀'.repeat(20) });
      expect(response.statusCode).toBe(201);
    });

    it('should answer a body that is not JSON with 415', async () => {
      const response = await app.inject({
        method: 'POST',
        url: REGISTER,
        headers: { ...bearer(), 'content-type': 'text/plain' },
        payload: 'message=hi',
      });

      expect(response.statusCode).toBe(415);
      expect(response.json()).toMatchObject({ statusCode: 415, error: 'Unsupported Media Type' });
    });

    it('should answer a body over the limit with 413', async () => {
      const response = await register({ message: 'x'.repeat(5000) });

      expect(response.statusCode).toBe(413);
      expect(response.json()).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
    });

    it('should send WWW-Authenticate with every 401', async () => {
      const missing = await register({}, {});
      const invalid = await register({}, { authorization: 'Bearer not.a.token' });

      expect(missing.headers['www-authenticate']).toBe('Bearer realm="dm-jobqueue"');
      expect(invalid.headers['www-authenticate']).toBe('Bearer realm="dm-jobqueue", error="invalid_token"');
    });
  });

  describe('health', () => {
    it('should report live and ready without a token', async () => {
      const live = await app.inject({ method: 'GET', url: '/health/live' });
      const ready = await app.inject({ method: 'GET', url: '/health/ready' });
      const health = await app.inject({ method: 'GET', url: '/health' });

      expect(live.statusCode).toBe(200);
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toMatchObject({ status: 'ok', info: { redis: { status: 'up' }, worker: { status: 'up' } } });
      expect(health.statusCode).toBe(200);
    });
  });
});
