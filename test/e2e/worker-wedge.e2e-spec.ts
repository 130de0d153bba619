// SPEC 6.2: readiness fails when the worker runs but has stopped fetching (a fetch loop wedged after a reconnect),
// naming the worker check, and comes back when the loop does. Through the real AppModule on a private redis-server.
import { JobProcessor } from '../../src/jobs/worker/job.processor';
import { JobsApp, startJobsApp } from '../support/jobs-app';
import { untilSentinelPrinted } from '../support/sentinel';
import { bearer } from '../support/tokens';
import { eventually } from '../support/wait';

jest.setTimeout(90_000);

const PREFIX = '{dm-jobqueue-wedge}';
const STALL_MS = 15_000;

/** What of BullMQ's worker the wedge reaches: its blocking connection (a RedisConnection). */
interface Blocking {
  blockingConnection: { client: Promise<{ stream: { pause(): void; resume(): void } }>; reconnect(): Promise<void> };
}

describe('Readiness with a wedged worker', () => {
  let fixture: JobsApp;

  beforeAll(async () => {
    fixture = await startJobsApp({ QUEUE_PREFIX: PREFIX, WORKER_FETCH_STALL_MS: String(STALL_MS) });
  });

  afterAll(() => fixture?.close());

  const ready = async () => {
    const response = await fixture.app.inject({ method: 'GET', url: '/health/ready' });
    return { status: response.statusCode, body: response.json() };
  };
  /** dm_jobqueue_ready per check, as /metrics answers now. */
  const readyGauge = async () => {
    const text = (await fixture.app.inject({ method: 'GET', url: '/metrics' })).body;
    return Object.fromEntries(
      [...text.matchAll(/^dm_jobqueue_ready\{check="(\w+)"\} (\d)$/gm)].map(([, check, value]) => [
        check,
        Number(value),
      ]),
    );
  };
  const register = (body: object) =>
    fixture.app.inject({
      method: 'POST',
      url: '/api/dm-jobqueue/register',
      headers: { 'content-type': 'application/json', ...bearer() },
      payload: JSON.stringify(body),
    });

  it('should answer 503 naming the worker once its blocking connection wedges the fetch loop, and 200 once it recovers', async () => {
    expect((await ready()).status).toBe(200);
    expect(await readyGauge()).toEqual({ redis: 1, worker: 1, all: 1 });
    const worker = fixture.app.app.get(JobProcessor).worker as unknown as Blocking;
    const blocking = worker.blockingConnection;
    const bclient = await blocking.client;
    // The blocking socket stops delivering replies (a proxy that stops forwarding), and the reconnect BullMQ's
    // watchdog then attempts never completes: the loop waits for ever.
    const reconnect = blocking.reconnect.bind(blocking);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const stuck = jest.spyOn(blocking, 'reconnect').mockImplementation(() => released.then(reconnect));
    bclient.stream.pause();

    const wedged = await eventually(
      async () => {
        const answer = await ready();
        return answer.status === 503 ? answer : undefined;
      },
      STALL_MS + 30_000,
      'readiness to fail',
      500,
    );
    expect(stuck).toHaveBeenCalled();
    expect(wedged.body).toEqual({
      status: 'error',
      info: { redis: { status: 'up', latency_ms: expect.any(Number) } },
      error: { worker: { status: 'down', message: expect.stringMatching(/^worker has not fetched jobs for \d+ s$/) } },
      details: {
        redis: { status: 'up', latency_ms: expect.any(Number) },
        worker: { status: 'down', message: expect.stringMatching(/^worker has not fetched jobs for \d+ s$/) },
      },
    });
    // What an alert reads on /metrics meanwhile.
    expect(await readyGauge()).toEqual({ redis: 1, worker: 0, all: 0 });
    // Liveness is not readiness: the process still answers.
    expect((await fixture.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);

    bclient.stream.resume();
    stuck.mockRestore();
    release();
    await eventually(async () => ((await ready()).status === 200 ? true : undefined), 20_000, 'readiness back', 250);
    expect(await readyGauge()).toEqual({ redis: 1, worker: 1, all: 1 });
    // And it runs jobs again.
    await untilSentinelPrinted(register, (message) => fixture.lines.printed(message).length);
  });
});
