// SPEC 7: every connection in cluster mode (REDIS_CLUSTER_NODES) against a real local three-node cluster.
import { Cluster } from 'ioredis';
import { createHash, randomUUID } from 'node:crypto';
import { startApp, TestApp, testEnv } from '../support/app';
import { JobLines } from '../support/job-lines';
import { RedisCluster } from '../support/redis-cluster';
import { bearer } from '../support/tokens';
import { eventually } from '../support/wait';

jest.setTimeout(60_000);

describe('Redis Cluster', () => {
  let cluster: RedisCluster;
  let app: TestApp;
  let lines: JobLines;

  beforeAll(async () => {
    cluster = await RedisCluster.start();
    lines = new JobLines();
    app = await startApp(testEnv('redis://127.0.0.1:1', { REDIS_CLUSTER_NODES: cluster.nodeList }));
  });

  afterAll(async () => {
    await app?.close();
    lines?.restore();
    await cluster?.close();
  });

  const register = (body: object, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: '/api/dm-jobqueue/register',
      headers: { ...bearer(), 'content-type': 'application/json', ...headers },
      payload: JSON.stringify(body),
    });

  it('should be ready, with the cluster state checked', async () => {
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });

    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ info: { redis: { status: 'up' }, worker: { status: 'up' } } });
  });

  it("should report the memory of the node that owns the queue's slot", async () => {
    // Each node a limit of its own (far above what the specs use), so the gauge tells which node it read.
    const limits = cluster.nodes.map((_node, index) => (index + 2) * 1024 * 1024 * 1024);
    await Promise.all(cluster.nodes.map((node, index) => node.command('CONFIG', 'SET', 'maxmemory', limits[index])));
    try {
      const slot = Number(await cluster.nodes[0].command('CLUSTER', 'KEYSLOT', '{dm-jobqueue}:jobs:meta'));
      const ranges = (await cluster.nodes[0].command('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      const ownerPort = ranges.find(([from, to]) => from <= slot && slot <= to)![2][1];
      const owner = cluster.nodes.findIndex((node) => node.port === ownerPort);
      expect(owner).toBeGreaterThanOrEqual(0);

      const text = await eventually(
        async () => {
          const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
          return body.includes(`dm_jobqueue_redis_memory_max_bytes{queue="jobs"} ${limits[owner]}`) ? body : undefined;
        },
        5_000,
        `the gauge to show the limit of node ${owner} (${limits[owner]})`,
        100,
      );
      expect(text).toMatch(/^dm_jobqueue_redis_memory_used_bytes\{queue="jobs"\} [1-9]\d*$/m);
    } finally {
      await Promise.all(cluster.nodes.map((node) => node.command('CONFIG', 'SET', 'maxmemory', '0')));
    }
  });

  it('should register a job, run it, and show it completed', async () => {
    const response = await register({ message: 'from the cluster', delay_seconds: 0 });
    expect(response.statusCode).toBe(201);

    await lines.waitFor((line) => line.endsWith('] from the cluster'));
    const { job_id: jobId } = response.json();
    let state = '';
    await eventually(
      async () => {
        state = (await app.inject({ method: 'GET', url: `/api/dm-jobqueue/jobs/${jobId}`, headers: bearer() })).json()
          .state;
        return state === 'completed' ? true : undefined;
      },
      5_000, // was 100 polls of a request and 20 ms
      'the job to complete',
      20,
    );
    expect(state).toBe('completed');
  });

  it('should cancel a delayed job', async () => {
    const { job_id: jobId } = (await register({ delay_seconds: 60 })).json();

    const cancelled = await app.inject({ method: 'DELETE', url: `/api/dm-jobqueue/jobs/${jobId}`, headers: bearer() });

    expect(cancelled.statusCode).toBe(204);
    expect(
      (await app.inject({ method: 'GET', url: `/api/dm-jobqueue/jobs/${jobId}`, headers: bearer() })).statusCode,
    ).toBe(404);
  });

  it('should answer a repeated Idempotency-Key with the first job', async () => {
    const first = await register({ delay_seconds: 60 }, { 'idempotency-key': 'cluster-key' });
    const again = await register({ delay_seconds: 60 }, { 'idempotency-key': 'cluster-key' });

    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(200);
    expect(again.json().job_id).toBe(first.json().job_id);
  });

  const jobIdsOf = (response: { json(): unknown }) =>
    (response.json() as { jobs: { job_id: string }[] }).jobs.map((job) => job.job_id);

  describe('job lifecycle (SPEC 6.4)', () => {
    const messages = [1, 2, 3].map((i) => `batch ${i} ${randomUUID().slice(0, 8)}`);
    let batchIds: string[] = [];

    it('should store a batch in one transaction and run each of its jobs', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/api/dm-jobqueue/register/batch',
        headers: { ...bearer(), 'content-type': 'application/json' },
        payload: JSON.stringify({ jobs: messages.map((message) => ({ message, delay_seconds: 0 })) }),
      });

      expect(response.statusCode).toBe(201);
      batchIds = jobIdsOf(response);
      expect(batchIds).toHaveLength(3);
      for (const message of messages) await lines.waitFor((line) => line.endsWith(`] ${message}`));
      for (const message of messages) expect(lines.printed(message)).toHaveLength(1);
    });

    it("should list the batch among the caller's jobs", async () => {
      const response = await app.inject({ method: 'GET', url: '/api/dm-jobqueue/jobs?limit=100', headers: bearer() });

      expect(response.statusCode).toBe(200);
      expect(jobIdsOf(response)).toEqual(expect.arrayContaining(batchIds));
    });

    it('should move a delayed job with PATCH, and run it at its new time', async () => {
      const message = `moved ${randomUUID().slice(0, 8)}`;
      const { job_id: jobId } = (await register({ message, delay_seconds: 3600 })).json();

      const moved = await app.inject({
        method: 'PATCH',
        url: `/api/dm-jobqueue/jobs/${jobId}`,
        headers: { ...bearer(), 'content-type': 'application/json' },
        payload: JSON.stringify({ delay_seconds: 0 }),
      });

      expect(moved.statusCode).toBe(200);
      expect(moved.json()).toMatchObject({ job_id: jobId, delay_seconds: 0 });
      await lines.waitFor((line) => line.endsWith(`] ${message}`));
    });

    it("should keep the job indexes and the quota sets in the queue's slot", async () => {
      // A job that has not started and has an expires_at: it holds a place in both the pending and expiring sets.
      const held = await register({ delay_seconds: 3600, expires_at: new Date(Date.now() + 7_200_000).toISOString() });
      expect(held.statusCode).toBe(201);
      const tenant = `{dm-jobqueue}:tenant:${createHash('sha256').update('e2e').digest('hex')}`;
      const keys = ['{dm-jobqueue}:jobs', `${tenant}:jobs`, `${tenant}:pending`, `${tenant}:expiring`];
      const client = new Cluster(
        cluster.nodeList.split(',').map((node) => ({ host: '127.0.0.1', port: Number(node.split(':')[1]) })),
      );
      try {
        const queueSlot = Number(await client.cluster('KEYSLOT', '{dm-jobqueue}:jobs:wait'));
        for (const key of keys) {
          expect({ key, exists: await client.exists(key) }).toEqual({ key, exists: 1 });
          expect({ key, slot: Number(await client.cluster('KEYSLOT', key)) }).toEqual({ key, slot: queueSlot });
        }
        expect(await client.zscore(`${tenant}:expiring`, held.json().job_id)).not.toBeNull();
      } finally {
        client.disconnect();
      }
    });
  });

  describe('recurring schedules (SPEC 6.5)', () => {
    it('should run a schedule, end it at its limit, and keep its keys in the queue slot', async () => {
      const message = `scheduled ${randomUUID().slice(0, 8)}`;
      const created = await app.inject({
        method: 'POST',
        url: '/api/dm-jobqueue/schedules',
        headers: { ...bearer(), 'content-type': 'application/json' },
        payload: JSON.stringify({ message, cron: '* * * * * *', limit: 2 }),
      });
      // The default minimum interval (60 s) refuses a cron every second; a minute-level cron runs too rarely here.
      expect(created.json()).toEqual({
        statusCode: 400,
        message: ['cron must not have occurrences less than 60 seconds apart (SCHEDULE_MIN_INTERVAL_SECONDS)'],
        error: 'Bad Request',
      });
      const schedule = await app.inject({
        method: 'POST',
        url: '/api/dm-jobqueue/schedules',
        headers: { ...bearer(), 'content-type': 'application/json' },
        payload: JSON.stringify({ message, every_seconds: 60, limit: 1 }),
      });
      expect(schedule.statusCode).toBe(201);
      const { schedule_id: scheduleId } = schedule.json();
      await lines.waitFor((line) => line.endsWith(`] ${message}`));
      const ended = await eventually(
        async () => {
          const view = (
            await app.inject({ method: 'GET', url: `/api/dm-jobqueue/schedules/${scheduleId}`, headers: bearer() })
          ).json();
          return view.ended_at ? view : undefined;
        },
        10_000,
        'the schedule to end',
      );
      expect(ended).toMatchObject({ state: 'ended', occurrences: 1, next_run_at: null });
      const tenant = `{dm-jobqueue}:tenant:${createHash('sha256').update('e2e').digest('hex')}`;
      const keys = [`{dm-jobqueue}:schedule:${scheduleId}`, '{dm-jobqueue}:schedules', `${tenant}:schedules`];
      const client = new Cluster(
        cluster.nodeList.split(',').map((node) => ({ host: '127.0.0.1', port: Number(node.split(':')[1]) })),
      );
      try {
        const queueSlot = Number(await client.cluster('KEYSLOT', '{dm-jobqueue}:jobs:wait'));
        for (const key of [...keys, `${tenant}:live-schedules`, '{dm-jobqueue}:jobs:repeat']) {
          expect({ key, slot: Number(await client.cluster('KEYSLOT', key)) }).toEqual({ key, slot: queueSlot });
        }
        for (const key of keys) expect({ key, exists: await client.exists(key) }).toEqual({ key, exists: 1 });
        // The ended schedule's record expires with the retention of a completed job.
        expect(await client.pttl(keys[0])).toBeGreaterThan(0);
      } finally {
        client.disconnect();
      }
      const deleted = await app.inject({
        method: 'DELETE',
        url: `/api/dm-jobqueue/schedules/${scheduleId}`,
        headers: bearer(),
      });
      expect(deleted.statusCode).toBe(204);
    });
  });

  it('should keep every queue key in one slot (the prefix is a hash tag)', async () => {
    const client = new Cluster(
      cluster.nodeList.split(',').map((node) => ({ host: '127.0.0.1', port: Number(node.split(':')[1]) })),
    );
    try {
      const owners = await Promise.all(cluster.nodes.map(async (node) => Number(await node.command('DBSIZE'))));
      // All of the service's keys live on the one node that owns the slot of "{dm-jobqueue}".
      expect(owners.filter((count) => count > 0)).toHaveLength(1);
      expect(Number(await client.cluster('KEYSLOT', '{dm-jobqueue}:jobs:id'))).toBe(
        Number(await client.cluster('KEYSLOT', 'dm-jobqueue')),
      );
    } finally {
      client.disconnect();
    }
  });
});
