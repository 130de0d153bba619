// Hostile and careless request bodies against the built server: a clear 4xx, nothing stored, never a 500,
// and messages that cannot break or forge the job line.
import type { Queue } from 'bullmq';
import { request } from 'node:http';
import { JOB_LINE } from '../support/job-lines';
import { storedJobs } from '../support/queue';
import { untilSentinelPrinted } from '../support/sentinel';
import { ServerProcess } from '../support/server-process';
import { Service, startService } from '../support/service';
import { bearer } from '../support/tokens';
import { eventually } from '../support/wait';

jest.setTimeout(60_000);

const LIMITS = {
  JOB_MAX_DELAY_SECONDS: '3600',
  JOB_MAX_RETRY: '20',
  JOB_MESSAGE_MAX_LENGTH: '100',
  BODY_LIMIT_BYTES: '8192',
};

/** A raw request, for bodies and headers fetch would not send as they are. */
function raw(
  url: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/dm-jobqueue/register`, { method: 'POST', headers: { ...bearer(), ...headers } });
    req.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// What must never reach a printed job line raw (SPEC 5.3): controls, separators, bidi and invisible format characters.
/* eslint-disable no-control-regex -- matching control characters is the point */
const UNSAFE_IN_A_LINE =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]/u;
/* eslint-enable no-control-regex */

describe('bad input', () => {
  let service: Service;
  let server: ServerProcess;
  let queue: Queue;
  let stored: number;

  beforeAll(async () => {
    service = await startService(LIMITS);
    ({ server, queue } = service);
  });

  afterAll(async () => {
    await service?.close();
  });

  describe('refused bodies', () => {
    beforeEach(async () => {
      stored = await storedJobs(queue);
    });

    afterEach(async () => {
      expect(await storedJobs(queue)).toBe(stored);
    });

    const field = (message: string) => [message];
    it.each<[string, unknown, unknown]>([
      // unknown properties, BullMQ's options first
      ...[
        'jobId',
        'attempts',
        'repeat',
        'priority',
        'delay',
        'backoff',
        'removeOnComplete',
        'lifo',
        'opts',
        'toString',
        'valueOf',
      ].map((key): [string, unknown, unknown] => [
        `unknown property ${key}`,
        { [key]: 1 },
        field(`property ${key} should not exist`),
      ]),
      // wrong types
      ...['"5"', '1.5', 'true', '[]', '{}', '1e400'].flatMap((value): [string, unknown, unknown][] => [
        [`delay_seconds ${value}`, `{"delay_seconds":${value}}`, field('delay_seconds must be an integer number')],
        [`max_retry ${value}`, `{"max_retry":${value}}`, field('max_retry must be an integer number')],
      ]),
      ...['5', 'true', '[]', '{}'].map((value): [string, unknown, unknown] => [
        `message ${value}`,
        `{"message":${value}}`,
        field('message must be a string'),
      ]),
      // bounds, and the value just past them
      ['delay_seconds -1', { delay_seconds: -1 }, field('delay_seconds must not be less than 0')],
      ['delay_seconds past the bound', { delay_seconds: 3601 }, field('delay_seconds must not be greater than 3600')],
      ['max_retry -1', { max_retry: -1 }, field('max_retry must not be less than 0')],
      ['max_retry past the bound', { max_retry: 21 }, field('max_retry must not be greater than 20')],
      [
        '101 ASCII characters',
        { message: 'a'.repeat(101) },
        field('message must be shorter than or equal to 100 characters'),
      ],
      [
        '101 three-byte characters',
        { message: 'あ'.repeat(101) },
        field('message must be shorter than or equal to 100 characters'),
      ],
      ['101 emoji', { message: '😀'.repeat(101) }, field('message must be shorter than or equal to 100 characters')],
      // not JSON, not an object
      ...['{', '{"message":}', "{'message':'x'}", '{"a":1,}', 'NaN', 'undefined', '\u0000'].map(
        (body): [string, unknown, unknown] => [
          `malformed JSON ${JSON.stringify(body)}`,
          body,
          'Malformed JSON in request body',
        ],
      ),
      ...['[]', '[{"message":"x"}]', '"text"', '42', 'true', 'null'].map((body): [string, unknown, unknown] => [
        `the JSON value ${body}`,
        body,
        'Request body must be a JSON object',
      ]),
      // prototype pollution
      [
        'a __proto__ key',
        '{"__proto__":{"isAdmin":true}}',
        'Request body contains a forbidden key (__proto__ or constructor.prototype)',
      ],
      [
        'a nested __proto__ key',
        '{"message":"x","a":{"__proto__":{"polluted":1}}}',
        'Request body contains a forbidden key (__proto__ or constructor.prototype)',
      ],
      [
        'constructor.prototype',
        '{"constructor":{"prototype":{"polluted":1}}}',
        'Request body contains a forbidden key (__proto__ or constructor.prototype)',
      ],
    ])('should answer %s with 400', async (_, body, message) => {
      const response = await server.register(body);

      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ statusCode: 400, message, error: 'Bad Request' });
    });

    it.each([
      ['text/plain', 'hello'],
      ['application/x-www-form-urlencoded', 'message=hi'],
      ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi\r\n--x--'],
      ['application/xml', '<message>hi</message>'],
    ])('should answer a %s body with 415', async (contentType, body) => {
      const response = await raw(server.url, { 'content-type': contentType }, body);

      expect(response.status).toBe(415);
      expect(JSON.parse(response.body)).toMatchObject({ statusCode: 415, error: 'Unsupported Media Type' });
    });

    it('should answer a body without a content type with 415', async () => {
      const response = await raw(server.url, {}, '{"message":"hi"}');

      expect(response.status).toBe(415);
    });

    it.each(['latin1', 'ISO-8859-1', 'utf-16', '"windows-1252"'])(
      'should answer a JSON body in charset %s with 415',
      async (charset) => {
        const body = Buffer.from('{"message":"caf\xe9"}', 'latin1');
        const response = await raw(server.url, { 'content-type': `application/json; charset=${charset}` }, body);

        expect(response.status).toBe(415);
        expect(JSON.parse(response.body)).toEqual({
          statusCode: 415,
          message: 'Unsupported charset: request bodies must be UTF-8',
          error: 'Unsupported Media Type',
        });
      },
    );

    it.each([
      ['a Latin-1 byte', Buffer.from('{"message":"caf\xe9"}', 'latin1')],
      [
        'a truncated sequence',
        Buffer.concat([Buffer.from('{"message":"'), Buffer.from('あ').subarray(0, 2), Buffer.from('"}')]),
      ],
      [
        'an overlong encoding',
        Buffer.concat([Buffer.from('{"message":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]),
      ],
    ])('should answer a body with %s (not UTF-8) with 400', async (_, body) => {
      const response = await raw(server.url, { 'content-type': 'application/json; charset=utf-8' }, body);

      expect(response.status).toBe(400);
      expect(JSON.parse(response.body)).toEqual({
        statusCode: 400,
        message: 'Request body is not valid UTF-8',
        error: 'Bad Request',
      });
    });

    it('should answer a body over the limit with 413', async () => {
      const response = await server.register({ message: 'x'.repeat(9_000) });

      expect(response.status).toBe(413);
      expect(await response.json()).toEqual({
        statusCode: 413,
        message: 'Request body is too large',
        error: 'Payload Too Large',
      });
    });

    it('should leave Object.prototype unpolluted', async () => {
      await server.register('{"__proto__":{"polluted":"yes"}}');
      const response = await server.register({ message: 'still fine', delay_seconds: 60 });

      expect(response.status).toBe(201);
      stored += 1;
    });
  });

  describe('accepted bodies', () => {
    it.each<[string, unknown]>([
      ['an empty body', ''],
      ['{}', {}],
      ['nulls everywhere', { message: null, delay_seconds: null, max_retry: null }],
      ['every bound exactly', { message: '😀'.repeat(100), delay_seconds: 3600, max_retry: 20 }],
      ['zeros', { delay_seconds: 0, max_retry: 0, message: 'zeros' }],
    ])('should accept %s', async (_, body) => {
      const response = await server.register(body);

      expect(response.status).toBe(201);
    });

    it.each(['application/json; charset=UTF-8', 'application/json; charset=utf-8', 'application/json;charset="utf-8"'])(
      'should accept %s and store the text as sent',
      async (contentType) => {
        const body = Buffer.from('{"message":"café","delay_seconds":3600}');
        const response = await raw(server.url, { 'content-type': contentType }, body);

        expect(response.status).toBe(201);
        const job = await queue.getJob(JSON.parse(response.body).job_id);
        expect(job?.data).toMatchObject({ message: 'café' });
      },
    );

    it('should accept a POST with neither a content type nor a body as {}', async () => {
      const response = await raw(server.url, {});

      expect(response.status).toBe(201);
    });
  });

  describe('messages that try to break the job line', () => {
    const tricky = [
      'forged\n[2026-01-01 00:00:00] admin logged in',
      'carriage\r[2026-01-01 00:00:00] overwritten',
      'ansi \x1b[2J\x1b[31mred\x1b[0m',
      'c1 \u009b31m and \u0085 next line',
      'separators \u2028 and \u2029',
      'bidi \u202etxt.exe\u202c',
      'nul \u0000 and bell \u0007 and del \u007f',
      'tab\tand backslash \\n stays',
      'invisible marks \u200e\u200f\u061c zero widths \u200b\u200c\u200d\u2060\u2064 and bom \ufeff',
      'hidden text \u00ad\u180e\ufff9 tags \u{e0041}\u{e007f}',
    ];

    it('should print each as one escaped line, once, and no forged line', async () => {
      for (const message of tricky) expect((await server.register({ message, delay_seconds: 0 })).status).toBe(201);

      // Each message starts with its own word, so its line is found whatever else is printed meanwhile.
      const lineOf = (message: string) =>
        server.jobLines.filter((line) => line.includes(`] ${/^\w+/.exec(message)![0]}`));
      const allSeen = () => (tricky.every((message) => lineOf(message).length > 0) ? true : undefined);
      await eventually(allSeen, 10_000, 'every line').catch(() => undefined); // the assertions below say which is missing
      // Registered after them: once its line is out, a second line of any of them would be too.
      await untilSentinelPrinted(
        (body) => server.register(body),
        (message) => server.printed(message).length,
      );

      for (const message of tricky) {
        const lines = lineOf(message);
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(JOB_LINE);
        expect(lines[0]).not.toMatch(UNSAFE_IN_A_LINE);
      }
      expect(lineOf(tricky[0])[0]).toMatch(/\] forged\\n\[2026-01-01 00:00:00\] admin logged in$/);
      expect(lineOf(tricky[7])[0]).toMatch(/\] tab\\tand backslash \\n stays$/);
      expect(lineOf(tricky[9])[0]).toMatch(/\] hidden text \\xad\\u180e\\ufff9 tags \\u\{e0041\}\\u\{e007f\}$/);
      expect(lineOf(tricky[8])[0]).toMatch(
        /\] invisible marks \\u200e\\u200f\\u061c zero widths \\u200b\\u200c\\u200d\\u2060\\u2064 and bom \\ufeff$/,
      );
      // Nothing the server printed starts a line with the forged text.
      const all = server.stdout.split('\n');
      expect(all.filter((line) => line.startsWith('[2026-01-01 00:00:00]'))).toEqual([]);
    });
  });

  it('should never have answered 500 (the server log has no unhandled error)', () => {
    expect(server.stdout + server.stderr).not.toMatch(
      /Internal server error|ExceptionsHandler|UnhandledPromiseRejection/,
    );
  });
});
