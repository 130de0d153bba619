// Attacks on the queue dashboard (SPEC 6.6) against the built server: password guessing is cut off per
// client address, the default read-only dashboard changes nothing, and a writable one refuses cross-site
// requests and never adds jobs.
import { fetchFrom, FetchFromInit } from '../support/fetch-from';
import { storedJobs } from '../support/queue';
import { ServerProcess } from '../support/server-process';
import { Service, startService } from '../support/service';

jest.setTimeout(60_000);

const USER = 'admin';
const PASSWORD = 'a-long-password-123';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const basic = (password: string): string => `Basic ${Buffer.from(`${USER}:${password}`).toString('base64')}`;
const DASHBOARD_ENV = { DASHBOARD_USER: USER, DASHBOARD_PASSWORD: PASSWORD };
const API = '/admin/queues/api/queues';
const ADD = `${API}/jobs/add`;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface SendOptions extends FetchFromInit {
  /** Local address to connect from (any 127.x.y.z reaches the server on 127.0.0.1). */
  from?: string;
}

/** One request on its own connection, from the client address `from`, with exactly the headers given. */
async function send(server: ServerProcess, path: string, options: SendOptions = {}): Promise<Answer> {
  const response = await fetchFrom(options.from ?? '127.0.0.1', `${server.url}${path}`, options);
  return { status: response.status, headers: Object.fromEntries(response.headers), body: await response.text() };
}

const json = (answer: Answer): unknown => JSON.parse(answer.body);

/** A job registered through the API, the sentinel that shows the queue view reads what the server writes. */
async function registerThroughApi(server: ServerProcess): Promise<string> {
  const response = await server.register({ message: 'sentinel', delay_seconds: 3600 });
  expect(response.status).toBe(201);
  return ((await response.json()) as { job_id: string }).job_id;
}

describe('dashboard abuse (read-only by default)', () => {
  let service: Service;

  beforeAll(async () => {
    service = await startService(DASHBOARD_ENV);
  });

  afterAll(async () => {
    await service?.close();
  });

  describe('password guessing', () => {
    const ATTACKER = '127.0.0.2';
    const OTHER = '127.0.0.1';
    const TOO_MANY = { statusCode: 429, message: 'Too many failed dashboard logins', error: 'Too Many Requests' };

    it('should answer 429 from the 11th wrong password on, to the right password too, and to that address only', async () => {
      const { server } = service;
      // Sentinel: the attacker's address is let in with the right password before it guesses.
      expect((await send(server, API, { from: ATTACKER, headers: { authorization: BASIC } })).status).toBe(200);

      for (let i = 1; i <= 10; i += 1) {
        const guess = await send(server, API, {
          from: ATTACKER,
          headers: { authorization: basic(`wrong-password-${i}`) },
        });
        expect([i, guess.status]).toEqual([i, 401]);
      }
      const eleventh = await send(server, API, {
        from: ATTACKER,
        headers: { authorization: basic('wrong-password-11') },
      });
      expect(eleventh.status).toBe(429);
      expect(json(eleventh)).toEqual(TOO_MANY);
      const retryAfter = Number(eleventh.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(eleventh.headers['www-authenticate']).toBeUndefined();

      // The right password no longer tells the attacker it was right; nor does any other request.
      for (const headers of [{ authorization: BASIC }, {}] as Record<string, string>[]) {
        const blocked = await send(server, API, { from: ATTACKER, headers });
        expect(blocked.status).toBe(429);
        expect(json(blocked)).toEqual(TOO_MANY);
        expect(Number(blocked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }

      // Another address: its wrong password is a plain 401, its right one opens the dashboard.
      expect(
        (await send(server, API, { from: OTHER, headers: { authorization: basic('wrong-password') } })).status,
      ).toBe(401);
      expect((await send(server, API, { from: OTHER, headers: { authorization: BASIC } })).status).toBe(200);
    });

    it('should not count a request without credentials (the browser asking for the challenge) as a failed login', async () => {
      const { server } = service;
      const FROM = '127.0.0.3';
      for (let i = 0; i < 15; i += 1) expect((await send(server, API, { from: FROM })).status).toBe(401);
      expect((await send(server, API, { from: FROM, headers: { authorization: BASIC } })).status).toBe(200);
    });
  });

  describe('read-only', () => {
    const READ_ONLY = {
      statusCode: 405,
      message: 'The dashboard is read-only (DASHBOARD_READ_ONLY=true)',
      error: 'Method Not Allowed',
    };

    it('should refuse the job-add attack (no body, no Content-Type, valid credentials) and store nothing', async () => {
      const { server, queue } = service;
      const before = await storedJobs(queue);

      const attack = await send(server, ADD, { method: 'POST', headers: { authorization: BASIC } });

      expect(attack.status).toBe(405);
      expect(json(attack)).toEqual(READ_ONLY);
      expect(attack.headers.allow).toBe('GET, HEAD');
      expect(await storedJobs(queue)).toBe(before);
      // Sentinel: a job registered through the API does show up in the same count.
      await registerThroughApi(server);
      expect(await storedJobs(queue)).toBe(before + 1);
    });

    it('should refuse every state-changing dashboard route and leave the queue as it was', async () => {
      const { server, queue } = service;
      const jobId = await registerThroughApi(server);
      const routes: [string, string][] = [
        ['POST', `${API}/jobs/add`],
        ['PUT', `${API}/pause`],
        ['PUT', `${API}/resume`],
        ['PUT', `${API}/jobs/pause`],
        ['PUT', `${API}/jobs/promote`],
        ['PUT', `${API}/jobs/retry/failed`],
        ['PUT', `${API}/jobs/clean/delayed`],
        ['PUT', `${API}/jobs/empty`],
        ['PUT', `${API}/jobs/obliterate`],
        ['PUT', `${API}/jobs/${jobId}/promote`],
        ['PUT', `${API}/jobs/${jobId}/retry`],
        ['PUT', `${API}/jobs/${jobId}/clean`],
        ['PATCH', `${API}/jobs/${jobId}/update-data`],
        ['PATCH', `${API}/jobs/${jobId}/delay`],
      ];
      for (const [method, url] of routes) {
        const answer = await send(server, url, {
          method,
          headers: { authorization: BASIC, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'x', data: { message: 'x' }, delay: 0, confirmQueueName: 'jobs' }),
        });
        expect([method, url, answer.status]).toEqual([method, url, 405]);
        expect(json(answer)).toEqual(READ_ONLY);
      }
      expect(await queue.isPaused()).toBe(false);
      expect(await queue.getJobState(jobId)).toBe('delayed');
      // bull-board's own read-only mode is on too (defence in depth): it tells the UI to hide the buttons.
      const listed = await send(server, API, { headers: { authorization: BASIC } });
      expect((json(listed) as { queues: { readOnlyMode: boolean }[] }).queues.map((q) => q.readOnlyMode)).toEqual([
        true,
      ]);
      // And reading still works, HEAD included.
      expect((await send(server, `${API}/jobs/${jobId}`, { headers: { authorization: BASIC } })).status).toBe(200);
      expect((await send(server, '/admin/queues', { method: 'HEAD', headers: { authorization: BASIC } })).status).toBe(
        200,
      );
    });

    it('should check the credentials before the method', async () => {
      const answer = await send(service.server, ADD, { method: 'POST' });
      expect(answer.status).toBe(401);
    });

    it('should never log the password or the Authorization header', () => {
      const output = service.server.stdout + service.server.stderr;
      // Sentinel: the access log did record dashboard requests.
      expect(output).toContain('/admin/queues/api/queues');
      expect(output).not.toContain(PASSWORD);
      expect(output).not.toContain(BASIC.slice('Basic '.length));
    });
  });
});

describe('dashboard abuse (DASHBOARD_READ_ONLY=false)', () => {
  let service: Service;
  let sameOrigin: string;

  beforeAll(async () => {
    service = await startService({ ...DASHBOARD_ENV, DASHBOARD_READ_ONLY: 'false' });
    sameOrigin = service.server.url;
  });

  afterAll(async () => {
    await service?.close();
  });

  const CROSS_SITE = {
    statusCode: 403,
    message: 'Cross-site request refused: state-changing dashboard requests must come from the dashboard itself',
    error: 'Forbidden',
  };

  it('should refuse cross-site state changes with 403 and let same-origin ones through to bull-board', async () => {
    const { server, queue } = service;
    const pause = `${API}/jobs/pause`;
    const crossSite: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: sameOrigin, 'sec-fetch-site': 'cross-site' },
      { origin: `http://evil.example:${server.port}`, 'sec-fetch-site': 'same-origin' },
    ];
    for (const headers of crossSite) {
      const answer = await send(server, pause, { method: 'PUT', headers: { authorization: BASIC, ...headers } });
      expect([headers, answer.status]).toEqual([headers, 403]);
      expect(json(answer)).toEqual(CROSS_SITE);
    }
    expect(await queue.isPaused()).toBe(false);

    // What the dashboard's own page sends: bull-board answers (200) and the queue is paused.
    const same = await send(server, pause, {
      method: 'PUT',
      headers: { authorization: BASIC, origin: sameOrigin, 'sec-fetch-site': 'same-origin' },
    });
    expect(same.status).toBe(200);
    expect(await queue.isPaused()).toBe(true);

    // Neither header (curl, scripts): allowed.
    const scripted = await send(server, `${API}/jobs/resume`, { method: 'PUT', headers: { authorization: BASIC } });
    expect(scripted.status).toBe(200);
    expect(await queue.isPaused()).toBe(false);
  });

  it('should refuse a cross-site promote of a job and pass a same-origin one to bull-board', async () => {
    const { server, queue } = service;
    const jobId = await registerThroughApi(server);
    await queue.pause(); // so the promoted job stays put and its state can be read
    try {
      const promote = `${API}/jobs/${jobId}/promote`;
      const cross = await send(server, promote, {
        method: 'PUT',
        headers: { authorization: BASIC, origin: 'https://evil.example' },
      });
      expect(cross.status).toBe(403);
      expect(await queue.getJobState(jobId)).toBe('delayed');

      const same = await send(server, promote, {
        method: 'PUT',
        headers: { authorization: BASIC, 'sec-fetch-site': 'same-origin' },
      });
      expect(same.status).toBe(204);
      expect(await queue.getJobState(jobId)).toBe('waiting');
    } finally {
      await queue.obliterate({ force: true });
    }
  });

  it('should never add a job through the dashboard, same-origin or not', async () => {
    const { server, queue } = service;
    const before = await storedJobs(queue);
    const refusal = {
      statusCode: 403,
      message: 'Job data cannot be written through the dashboard; register jobs with POST /api/dm-jobqueue/register',
      error: 'Forbidden',
    };

    const attempts: SendOptions[] = [
      { headers: { authorization: BASIC } },
      {
        headers: {
          authorization: BASIC,
          origin: sameOrigin,
          'sec-fetch-site': 'same-origin',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ name: 'x', data: {} }),
      },
    ];
    for (const options of attempts) {
      const answer = await send(server, ADD, { method: 'POST', ...options });
      expect(answer.status).toBe(403);
      expect(json(answer)).toEqual(refusal);
    }
    expect(await storedJobs(queue)).toBe(before);
    await registerThroughApi(server);
    expect(await storedJobs(queue)).toBe(before + 1);
  });

  it("should never rewrite a job's data (and so its owner) through the dashboard, same-origin or not", async () => {
    const { server, queue } = service;
    const jobId = await registerThroughApi(server);
    const rewrite = { jobData: { message: { evil: 'object' }, owner: 'someone-else' } };

    const answer = await send(server, `${API}/jobs/${jobId}/update-data`, {
      method: 'PATCH',
      headers: {
        authorization: BASIC,
        origin: sameOrigin,
        'sec-fetch-site': 'same-origin',
        'content-type': 'application/json',
      },
      body: JSON.stringify(rewrite),
    });

    expect(answer.status).toBe(403);
    expect(json(answer)).toMatchObject({
      statusCode: 403,
      message: expect.stringContaining('Job data cannot be written'),
    });
    const job = await queue.getJob(jobId);
    expect(job?.data).toEqual({
      message: 'sentinel',
      delay_seconds: 3600,
      max_retry: 10,
      run_at: job!.timestamp + 3_600_000,
      owner: 'e2e',
    });
  });

  it('should say it is writable in bull-board (the UI shows its buttons)', async () => {
    const listed = await send(service.server, API, { headers: { authorization: BASIC } });
    expect((json(listed) as { queues: { readOnlyMode: boolean }[] }).queues.map((q) => q.readOnlyMode)).toEqual([
      false,
    ]);
  });
});
