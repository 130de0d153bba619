// The index's stale-entry sampling (src/jobs/job-index.ts) against a real redis-server: the window a registration
// checks (from rank at × the entries past the grace, wrapping around at the last of them), what it drops and what it
// leaves, and where a registration's windows start (src/jobs/tenant-quota.ts: from its first job's id).
import { DROP_STALE_SAMPLES_LUA } from '../../src/jobs/job-index';
import { registerLua } from '../../src/jobs/tenant-quota';
import { RedisServer } from '../support/redis-server';

/** Runs dropStaleSamples on `index` (also removing from `also`), jobs under `prefix`; entries older than 1 000 stale. */
const script = `
local prefix = ARGV[1]
${DROP_STALE_SAMPLES_LUA}
dropStaleSamples(KEYS[1], tonumber(ARGV[2]), 1000, KEYS[2], tonumber(ARGV[3]))
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

describe('dropStaleSamples', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });

  afterAll(() => redis?.close());

  /** An index of ten entries, e0 … e9 (scores 0 … 9, all past the grace), whose jobs `alive` still exist. */
  async function index(alive: number[]): Promise<void> {
    await redis.command('DEL', 'idx', 'also', ...Array.from({ length: 10 }, (_, i) => `job:e${i}`));
    for (let i = 0; i < 10; i++) {
      await redis.command('ZADD', 'idx', i, `e${i}`);
      await redis.command('ZADD', 'also', i, `e${i}`);
    }
    for (const i of alive) await redis.command('SET', `job:e${i}`, '1');
  }

  const run = async (samples: number, at: number) =>
    (await redis.command('EVAL', script, 2, 'idx', 'also', 'job:', samples, at)) as string[];

  it('checks the entries from rank at × size, dropping those whose job is gone, from both keys', async () => {
    await index([4]);
    expect(await run(3, 0.3)).toEqual(['e0', 'e1', 'e2', 'e4', 'e6', 'e7', 'e8', 'e9']);
    expect(await redis.command('ZRANGE', 'also', 0, -1)).toEqual(['e0', 'e1', 'e2', 'e4', 'e6', 'e7', 'e8', 'e9']);
  });

  it('wraps around the end of the index, so the oldest entries are checked as often as any', async () => {
    await index([]);
    expect(await run(4, 0.95)).toEqual(['e3', 'e4', 'e5', 'e6', 'e7', 'e8']);
    expect(await redis.command('ZRANGE', 'also', 0, -1)).toEqual(['e3', 'e4', 'e5', 'e6', 'e7', 'e8']);
  });

  it('does not wrap when the window ends exactly at the last entry', async () => {
    await index([]);
    expect(await run(3, 0.7)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6']);
  });

  it('spends no sample on the entries of the grace: the window covers the entries past it', async () => {
    await index([]);
    for (let i = 0; i < 10; i++) await redis.command('ZADD', 'idx', 5_000 + i, `young${i}`);
    // Ten entries past the grace (ranks 0 to 9), ten young above them: 0.5 × 10 is rank 5; the window wraps at 9.
    const left = await run(6, 0.5);
    expect(left.filter((id) => id.startsWith('e'))).toEqual(['e1', 'e2', 'e3', 'e4']);
    expect(left.filter((id) => id.startsWith('young'))).toHaveLength(10);
  });

  it('checks every entry once at most when asked for more than the index holds, and leaves entries in their grace', async () => {
    await index([0, 9]);
    await redis.command('ZADD', 'idx', 5_000, 'young');
    expect(await run(50, 0.5)).toEqual(['e0', 'e9', 'young']);
    await redis.command('DEL', 'idx');
    expect(await run(4, 0.5)).toEqual([]);
  });
});

describe("a registration's samples (registerLua)", () => {
  let redis: RedisServer;
  const script = registerLua({ maxPendingJobs: 0, indexTtlMs: 60_000 });
  const now = 100_000;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });

  afterAll(() => redis?.close());

  /** Fills `key` with `count` stale entries `<name>00` …, whose jobs are gone. */
  async function stale(key: string, name: string, count: number): Promise<void> {
    await redis.command('DEL', key);
    for (let i = 0; i < count; i++) await redis.command('ZADD', key, i, `${name}${String(i).padStart(2, '0')}`);
  }

  /** Registers one job `id` of tenant "t"; resolves to what is left of the tenant's index and the global one. */
  async function register(id: string): Promise<{ reply: unknown; tenant: string[]; global: string[] }> {
    const reply = await redis.command(
      'EVAL',
      script,
      5,
      'pending',
      'expiring',
      'tidx',
      'gidx',
      `job:${id}`,
      'job:',
      now,
      id,
      0,
    );
    const others = (members: string[]) => members.filter((member) => member !== id);
    return {
      reply,
      tenant: others((await redis.command('ZRANGE', 'tidx', 0, -1)) as string[]),
      global: others((await redis.command('ZRANGE', 'gidx', 0, -1)) as string[]),
    };
  }

  it("starts the tenant's window at the first 8 hex digits of the job's id", async () => {
    await stale('tidx', 't', 10);
    await stale('gidx', 'g', 10);
    // 0x90000000 / 2^32 = 0.5625: ranks 5 to 8; an odd first digit leaves the global index unsampled.
    const { tenant, global } = await register('90000000-0000-4000-8000-000000000000');
    expect(tenant).toEqual(['t00', 't01', 't02', 't03', 't04', 't09']);
    expect(global).toHaveLength(10);
  });

  it('starts the global window at its last 8 hex digits, one registration in two', async () => {
    await redis.command('DEL', 'tidx');
    await stale('gidx', 'g', 20);
    // An even first digit: 8 samples; 0x40000000 / 2^32 = 0.25: ranks 5 to 12.
    const { global } = await register('20000000-0000-4000-8000-000040000000');
    expect(global).toEqual(['g00', 'g01', 'g02', 'g03', 'g04', 'g13', 'g14', 'g15', 'g16', 'g17', 'g18', 'g19']);
  });

  it('samples at random (ZRANDMEMBER) when the id is not hex there, and still registers', async () => {
    await stale('tidx', 't', 10);
    await redis.command('DEL', 'gidx');
    const { reply, tenant } = await register('not-a-uuid-at-all');
    expect(reply).toBe(1);
    expect(tenant).toHaveLength(6);
  });

  /**
   * Registers a batch of `count` jobs of tenant "t"; by default their ids start and end with zeros, so both windows
   * start at rank 0.
   */
  async function registerBatch(
    count: number,
    id = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  ): Promise<unknown> {
    const ids = Array.from({ length: count }, (_, i) => id(i));
    const keys = ['pending', 'expiring', 'tidx', 'gidx', ...ids.map((id) => `job:${id}`)];
    return redis.command('EVAL', script, keys.length, ...keys, 'job:', now, ...ids.flatMap((id) => [id, 0]));
  }

  /** `key` with `count` entries e000 … (scores 0 …, past the grace), whose jobs exist unless `gone(rank)`. */
  async function entries(key: string, count: number, gone: (rank: number) => boolean): Promise<void> {
    await redis.command('DEL', key);
    const ids = Array.from({ length: count }, (_, i) => `e${String(i).padStart(3, '0')}`);
    // A command for all of them, not one per entry: 4 000 round trips outgrew the test's 5 s on a loaded CI.
    await redis.command('ZADD', key, ...ids.flatMap((id, i) => [i, id]));
    const dead = ids.filter((_, i) => gone(i));
    const live = ids.filter((_, i) => !gone(i));
    if (dead.length > 0) await redis.command('DEL', ...dead.map((id) => `job:${id}`));
    if (live.length > 0) await redis.command('MSET', ...live.flatMap((id) => [`job:${id}`, '1']));
  }

  /** The EXISTS calls Redis ran during `work`. */
  async function existsCalls(work: () => Promise<unknown>): Promise<number> {
    await redis.command('CONFIG', 'RESETSTAT');
    await work();
    const stats = String(await redis.command('INFO', 'commandstats'));
    return Number(/cmdstat_exists:calls=(\d+)/.exec(stats)?.[1] ?? 0);
  }

  it("checks about a sixteenth of a batch's samples in an index whose entries are all live: 32 of 400 for 100 jobs", async () => {
    await entries('tidx', 1_000, () => false);
    await entries('gidx', 1_000, () => false);
    // 400 / 16 = 25, in blocks of 8: 4 blocks, 32 entries in each index.
    expect(await existsCalls(() => registerBatch(100))).toBe(32 + 32);
    expect(await redis.command('ZCARD', 'tidx')).toBe(1_100);
    expect(await redis.command('ZCARD', 'gidx')).toBe(1_100);
  });

  it('checks all of them where one in 16 of the first was stale, only the first ones where fewer were', async () => {
    // The window is ranks 0 to 399; the first checks are 4 blocks of 8 spread over it (ranks 0-7, 100-107, 200-207,
    // 300-307). Among those, the first `stalesAmongFirst` blocks start with a stale entry; elsewhere in the window the
    // odd ranks are stale; past it every entry is.
    const firstOnes = (rank: number) => rank < 400 && rank % 100 < 8;
    const gone = (stalesAmongFirst: number) => (rank: number) =>
      rank >= 400 || (firstOnes(rank) ? rank % 100 === 0 && rank / 100 < stalesAmongFirst : rank % 2 === 1);
    const ranks = Array.from({ length: 1_000 }, (_, rank) => rank);
    const name = (rank: number) => `e${String(rank).padStart(3, '0')}`;
    const old = async () =>
      ((await redis.command('ZRANGE', 'tidx', 0, 999)) as string[]).filter((id) => id.startsWith('e'));

    // Two stale of 32: 2 × 16 ≥ 32, so the window goes on and drops every stale entry in it, none past it.
    await entries('tidx', 1_000, gone(2));
    await redis.command('DEL', 'gidx');
    expect(await registerBatch(100)).toBe(1);
    expect(await old()).toEqual(ranks.filter((rank) => rank >= 400 || !gone(2)(rank)).map(name));

    // One stale of 32: 16 < 32, so the other 368 are not looked at; only that one goes.
    await entries('tidx', 1_000, gone(1));
    await redis.command('DEL', 'gidx');
    expect(await existsCalls(() => registerBatch(100))).toBe(32);
    expect(await old()).toEqual(ranks.filter((rank) => rank !== 0).map(name));
  });

  it('draws the first ones at random (ZRANDMEMBER) where the id is not hex, and the others where they were stale', async () => {
    const notHex = (i: number) => `not-hex-${i}-at-either-end`;
    await entries('tidx', 1_000, () => false);
    await entries('gidx', 1_000, () => false);
    // 400 / 16 = 25 drawn in each index, all live: no more.
    expect(await existsCalls(() => registerBatch(100, notHex))).toBe(25 + 25);
    await entries('tidx', 1_000, () => true);
    await redis.command('DEL', 'gidx');
    // Every entry stale: 25, then the other 375 (distinct within each draw).
    expect(await existsCalls(() => registerBatch(100, notHex))).toBe(400);
    expect(Number(await redis.command('ZCARD', 'tidx'))).toBeLessThanOrEqual(1_000 - 375 + 100);
  });

  it('indexes every job of a large batch (5 000), and its expiring ones with their expiry', async () => {
    await redis.command('DEL', 'pending', 'expiring', 'tidx', 'gidx');
    const withQuota = registerLua({ maxPendingJobs: 10_000, indexTtlMs: 60_000 });
    const ids = Array.from({ length: 5_000 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const args = ids.flatMap((id, i) => [id, i % 2 === 0 ? now + 1_000 + i : 0]);
    const keys = ['pending', 'expiring', 'tidx', 'gidx', ...ids.map((id) => `job:${id}`)];
    expect(await redis.command('EVAL', withQuota, keys.length, ...keys, 'job:', now, ...args)).toBe(1);
    for (const key of ['pending', 'tidx', 'gidx']) expect(await redis.command('ZCARD', key)).toBe(5_000);
    expect(await redis.command('ZCARD', 'expiring')).toBe(2_500);
    expect(await redis.command('ZSCORE', 'expiring', ids[4_998])).toBe(String(now + 1_000 + 4_998));
    expect(await redis.command('ZSCORE', 'tidx', ids[4_999])).toBe(String(now));
  });
});
