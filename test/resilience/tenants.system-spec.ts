// Tenants (SPEC 6.3, OWASP API1 and API4) on the built server: one tenant cannot read or cancel another's jobs,
// an admin can, and a tenant's not-yet-started jobs are bounded by TENANT_MAX_PENDING_JOBS, exactly, under
// concurrency. The tokens are signed here with jsonwebtoken directly, not with the service's own signing code.
import type { Queue } from 'bullmq';
import { sign } from 'jsonwebtoken';
import { createHash, randomUUID } from 'node:crypto';
import { eventually } from '../support/wait';
import { ServerProcess } from '../support/server-process';
import { Service, startService } from '../support/service';
import { SERVICE_PREFIX, storedJobs } from '../support/queue';
import { TEST_ISSUER, TEST_SECRET } from '../support/tokens';

jest.setTimeout(60_000);

const JOBS = '/api/dm-jobqueue/jobs';
const QUOTA = 5;
const NOT_FOUND = { statusCode: 404, message: 'Job not found', error: 'Not Found' };
const QUOTA_EXCEEDED = { statusCode: 429, message: 'Pending job quota exceeded', error: 'Too Many Requests' };

/** A bearer header for tenant `sub`, minted as any HS256 library would. */
function tenant(sub: string, scope = ['read', 'write']): { authorization: string } {
  const jwt = sign({ scope, type: 'private', version: 'v2', env: 'test' }, TEST_SECRET, {
    algorithm: 'HS256',
    issuer: TEST_ISSUER,
    subject: sub,
    expiresIn: '1h',
  });
  return { authorization: `Bearer ${jwt}` };
}

/** The tenant's pending set as the service names it: `<prefix>:tenant:<sha256(sub)>:pending`. */
const pendingKey = (sub: string): string =>
  `${SERVICE_PREFIX}:tenant:${createHash('sha256').update(sub).digest('hex')}:pending`;

describe('tenants on the built server', () => {
  let service: Service;
  let server: ServerProcess;
  let queue: Queue;

  beforeAll(async () => {
    service = await startService({
      TENANT_MAX_PENDING_JOBS: String(QUOTA),
      RATE_LIMIT_PER_MINUTE: '0',
      JOB_BACKOFF_MS: '0',
    });
    ({ server, queue } = service);
  });

  afterAll(async () => {
    await service?.close();
  });

  const register = async (who: { authorization: string }, body: object = { delay_seconds: 3600 }) => {
    const response = await server.register(body, who);
    return { status: response.status, body: await response.json() };
  };
  const get = async (jobId: string, who: { authorization: string }) => {
    const response = await server.fetch(`${JOBS}/${jobId}`, { headers: who });
    return { status: response.status, body: await response.json() };
  };
  const cancel = async (jobId: string, who: { authorization: string }) => {
    const response = await server.fetch(`${JOBS}/${jobId}`, { method: 'DELETE', headers: who });
    return { status: response.status, body: response.status === 204 ? null : await response.json() };
  };
  /** Jobs in Redis whose data names `owner`, in any state. */
  const jobsOf = async (owner: string): Promise<number> =>
    (await queue.getJobs(['delayed', 'waiting', 'active', 'completed', 'failed'])).filter(
      (job) => job?.data.owner === owner,
    ).length;

  describe('isolation', () => {
    const alice = tenant('alice');
    const bob = tenant('bob');
    const admin = tenant('ops', ['read', 'write', 'admin']);

    it("should answer another tenant's GET and DELETE exactly as for an unknown id, and leave the job alone", async () => {
      const created = await register(alice, { message: 'alice only', delay_seconds: 3600 });
      expect(created.status).toBe(201);
      const unknown = await get(randomUUID(), bob);

      const read = await get(created.body.job_id, bob);
      const cancelled = await cancel(created.body.job_id, bob);

      expect(unknown).toEqual({ status: 404, body: NOT_FOUND });
      expect(read).toEqual(unknown);
      expect(cancelled).toEqual({ status: 404, body: NOT_FOUND });
      // Still there for its owner, message and all.
      const own = await get(created.body.job_id, alice);
      expect(own.status).toBe(200);
      expect(own.body).toMatchObject({
        job_id: created.body.job_id,
        owner: 'alice',
        state: 'delayed',
        message: 'alice only',
      });
      expect(await queue.getJobState(created.body.job_id)).toBe('delayed');
    });

    it('should let each tenant read its own job (the 404s above are not a broken read)', async () => {
      const created = await register(bob, { message: 'bob only', delay_seconds: 3600 });

      expect(await get(created.body.job_id, bob)).toMatchObject({
        status: 200,
        body: { owner: 'bob', message: 'bob only' },
      });
      expect(await get(created.body.job_id, alice)).toEqual({ status: 404, body: NOT_FOUND });
    });

    it("should let an admin read and cancel any tenant's job", async () => {
      const created = await register(alice, { message: 'seen by ops', delay_seconds: 3600 });

      expect(await get(created.body.job_id, admin)).toMatchObject({
        status: 200,
        body: { owner: 'alice', message: 'seen by ops' },
      });
      expect(await cancel(created.body.job_id, admin)).toEqual({ status: 204, body: null });
      expect(await get(created.body.job_id, alice)).toEqual({ status: 404, body: NOT_FOUND });
      expect(await queue.getJob(created.body.job_id)).toBeUndefined();
    });

    it('should not let a token with the admin scope but not write cancel (scopes still apply)', async () => {
      const created = await register(alice);
      const response = await server.fetch(`${JOBS}/${created.body.job_id}`, {
        method: 'DELETE',
        headers: tenant('viewer', ['read', 'admin']),
      });

      expect(response.status).toBe(403);
      expect(await queue.getJobState(created.body.job_id)).toBe('delayed');
    });
  });

  describe('TENANT_MAX_PENDING_JOBS', () => {
    it('should refuse the registration past the quota with 429, store nothing, and leave other tenants alone', async () => {
      const carol = tenant('carol');
      const before = await queue.getJobCountByTypes('delayed', 'waiting');
      for (let i = 0; i < QUOTA; i++) expect((await register(carol)).status).toBe(201);

      const refused = await register(carol, { message: 'one too many', delay_seconds: 3600 });

      expect(refused).toEqual({ status: 429, body: QUOTA_EXCEEDED });
      expect(await jobsOf('carol')).toBe(QUOTA);
      expect(await queue.getJobCountByTypes('delayed', 'waiting')).toBe(before + QUOTA);
      expect(await service.redis.command('ZCARD', pendingKey('carol'))).toBe(QUOTA);
      // No placeholder or half-stored job is left (its removal follows the refusal at once; it would otherwise
      // live 60 s): every job hash belongs to a job in one of the queue's lists.
      const jobHashes = async () =>
        ((await service.redis.command('KEYS', `${SERVICE_PREFIX}:jobs:*`)) as string[]).filter((key) =>
          /:jobs:[0-9a-f-]{36}$/.test(key),
        );
      const stored = await storedJobs(queue);
      const settled = await eventually(
        async () => {
          const hashes = await jobHashes();
          return hashes.length === stored ? hashes : undefined;
        },
        2_000,
        'the placeholder to go',
      ).catch(() => jobHashes());
      expect(settled).toHaveLength(stored);
      expect((await register(tenant('dave'))).status).toBe(201);
    });

    it('should give a place back when a job is cancelled and when a job starts', async () => {
      const erin = tenant('erin');
      const ids: string[] = [];
      for (let i = 0; i < QUOTA; i++) ids.push((await register(erin)).body.job_id);
      expect((await register(erin)).status).toBe(429);

      expect((await cancel(ids[0], erin)).status).toBe(204);
      const message = `erin runs ${randomUUID()}`;
      const runs = await register(erin, { message, delay_seconds: 0 });
      expect(runs.status).toBe(201);
      await server.waitForOutput(new RegExp(`\\] ${message}\n`));
      await eventually(
        async () => ((await queue.getJobState(runs.body.job_id)) === 'completed' ? true : undefined),
        5_000,
        'the job to complete',
      );

      // Its place came back when it started: one more fits, then the quota is full again.
      expect(await service.redis.command('ZCARD', pendingKey('erin'))).toBe(QUOTA - 1);
      expect((await register(erin)).status).toBe(201);
      expect((await register(erin)).status).toBe(429);
      expect(await service.redis.command('ZCARD', pendingKey('erin'))).toBe(QUOTA);
    });

    it('should be exact under concurrency: 40 simultaneous registrations store exactly the quota', async () => {
      const frank = tenant('frank');

      const responses = await Promise.all(Array.from({ length: 40 }, () => register(frank)));

      const statuses = responses.map((response) => response.status).sort();
      expect(statuses).toEqual([...Array(QUOTA).fill(201), ...Array(40 - QUOTA).fill(429)]);
      expect(await jobsOf('frank')).toBe(QUOTA);
      expect(await service.redis.command('ZCARD', pendingKey('frank'))).toBe(QUOTA);
    });

    it('should drop an entry whose release was lost (its job is gone) rather than count it for ever', async () => {
      const grace = tenant('grace');
      for (let i = 0; i < QUOTA - 1; i++) expect((await register(grace)).status).toBe(201);
      // What a lost release leaves behind: an entry for a job that no longer exists.
      await service.redis.command('ZADD', pendingKey('grace'), 1, randomUUID());
      expect(await service.redis.command('ZCARD', pendingKey('grace'))).toBe(QUOTA);

      expect((await register(grace)).status).toBe(201);
      expect((await register(grace)).status).toBe(429);
      expect(await jobsOf('grace')).toBe(QUOTA);
    });

    it('should leave no pending set behind once a tenant has no job waiting', async () => {
      const heidi = tenant('heidi');
      const ids = [(await register(heidi)).body.job_id, (await register(heidi)).body.job_id];
      expect(await service.redis.command('EXISTS', pendingKey('heidi'))).toBe(1);

      for (const id of ids) expect((await cancel(id, heidi)).status).toBe(204);

      expect(await service.redis.command('EXISTS', pendingKey('heidi'))).toBe(0);
    });
  });
});
