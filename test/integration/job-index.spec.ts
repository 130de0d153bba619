// The index's stale-entry sampling (src/jobs/job-index.ts) against a real redis-server: the window a registration
// checks (from rank at × size, wrapping around at the end), what it drops and what it leaves.
import { DROP_STALE_SAMPLES_LUA } from '../../src/jobs/job-index';
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
  });

  it('checks every entry once at most when asked for more than the index holds, and leaves entries in their grace', async () => {
    await index([0, 9]);
    await redis.command('ZADD', 'idx', 5_000, 'young');
    expect(await run(50, 0.5)).toEqual(['e0', 'e9', 'young']);
    await redis.command('DEL', 'idx');
    expect(await run(4, 0.5)).toEqual([]);
  });
});
