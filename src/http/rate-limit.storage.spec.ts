import { FixedWindowStorage } from './rate-limit.storage';

const MINUTE = 60_000;

describe('FixedWindowStorage', () => {
  let clock: number;
  let storage: FixedWindowStorage;

  beforeEach(() => {
    clock = 1_000_000;
    storage = new FixedWindowStorage(() => clock);
  });

  const hit = (key = 'client-a', limit = 3) => storage.increment(key, MINUTE, limit);

  it('should let `limit` requests through in one window and refuse the next', async () => {
    const hits = [await hit(), await hit(), await hit(), await hit()];

    expect(hits.map((h) => h.totalHits)).toEqual([1, 2, 3, 4]);
    expect(hits.map((h) => h.isBlocked)).toEqual([false, false, false, true]);
    expect(hits.slice(0, 3).map((h) => h.timeToBlockExpire)).toEqual([0, 0, 0]);
  });

  it('should tell a refused client to retry when its window ends, in whole seconds', async () => {
    await hit(undefined, 1);
    clock += 20_500;

    const refused = await hit(undefined, 1);

    expect(refused).toEqual({ totalHits: 2, timeToExpire: 40, isBlocked: true, timeToBlockExpire: 40 });
  });

  it('should count from the first request and start again once the window has ended', async () => {
    await hit(undefined, 1);
    expect((await hit(undefined, 1)).isBlocked).toBe(true);
    clock += MINUTE - 1;
    expect((await hit(undefined, 1)).isBlocked).toBe(true);
    clock += 1;

    const next = await hit(undefined, 1);

    expect(next).toEqual({ totalHits: 1, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });
  });

  it('should never report less than one second to wait', async () => {
    await hit(undefined, 1);
    clock += MINUTE - 10;

    const refused = await hit(undefined, 1);

    expect(refused.timeToExpire).toBe(1);
    expect(refused.timeToBlockExpire).toBe(1);
  });

  it('should count each client on its own', async () => {
    await hit('client-a', 1);
    expect((await hit('client-a', 1)).isBlocked).toBe(true);

    expect(await hit('client-b', 1)).toMatchObject({ totalHits: 1, isBlocked: false });
  });

  it('should forget clients whose window has ended', async () => {
    await hit('client-a');
    await hit('client-b');
    expect(storage.size).toBe(2);
    clock += MINUTE;

    await hit('client-c');

    expect(storage.size).toBe(1);
  });

  describe('peek', () => {
    it('should report a client without counting it', async () => {
      await hit(undefined, 1);
      clock += 30_000;

      expect(storage.peek('client-a', 1)).toEqual({
        totalHits: 1,
        timeToExpire: 30,
        isBlocked: false,
        timeToBlockExpire: 0,
      });
      expect(storage.peek('client-a', 1)).toMatchObject({ totalHits: 1 });
      expect(await hit(undefined, 1)).toMatchObject({ totalHits: 2, isBlocked: true });
      expect(storage.peek('client-a', 1)).toEqual({
        totalHits: 2,
        timeToExpire: 30,
        isBlocked: true,
        timeToBlockExpire: 30,
      });
    });

    it('should report an unknown client, or one whose window has ended, as not blocked, and remember nothing', async () => {
      expect(storage.peek('client-z', 1)).toEqual({
        totalHits: 0,
        timeToExpire: 0,
        isBlocked: false,
        timeToBlockExpire: 0,
      });
      await hit(undefined, 1);
      await hit(undefined, 1);
      clock += MINUTE;

      expect(storage.peek('client-a', 1)).toMatchObject({ totalHits: 0, isBlocked: false });
      expect(storage.size).toBe(1);
    });
  });
});
