import { FixedWindowStorage } from '../http/rate-limit.storage';
import { FAILED_LOGINS_PER_WINDOW, FailedLoginLimit } from './login-limit';

describe('FailedLoginLimit', () => {
  let clock: number;
  let storage: FixedWindowStorage;
  let limit: FailedLoginLimit;

  beforeEach(() => {
    clock = 1_000_000;
    storage = new FixedWindowStorage(() => clock);
    limit = new FailedLoginLimit(storage);
  });

  const failTimes = async (count: number, address = '203.0.113.7'): Promise<number[]> => {
    const waits: number[] = [];
    for (let i = 0; i < count; i += 1) waits.push(await limit.failed(address));
    return waits;
  };

  it('should allow 10 failures a minute and shut the address out at the 11th', async () => {
    expect(FAILED_LOGINS_PER_WINDOW).toBe(10);
    const waits = await failTimes(11);

    expect(waits.slice(0, 10)).toEqual(Array(10).fill(0));
    expect(waits[10]).toBe(60);
  });

  it('should not count when asked whether an address is shut out', async () => {
    await failTimes(10);
    for (let i = 0; i < 5; i += 1) expect(limit.blockedFor('203.0.113.7')).toBe(0);

    expect(await limit.failed('203.0.113.7')).toBe(60);
    expect(limit.blockedFor('203.0.113.7')).toBe(60);
  });

  it('should keep the address out until the minute from its first failure ends, then forget it', async () => {
    await failTimes(1);
    clock += 15_000;
    await failTimes(10);
    clock += 44_000;
    expect(limit.blockedFor('203.0.113.7')).toBe(1);
    clock += 1_000;

    expect(limit.blockedFor('203.0.113.7')).toBe(0);
    expect(await limit.failed('203.0.113.7')).toBe(0);
    expect(storage.size).toBe(1);
  });

  it('should leave other addresses alone', async () => {
    await failTimes(11);

    expect(limit.blockedFor('203.0.113.8')).toBe(0);
    expect(await limit.failed('203.0.113.8')).toBe(0);
  });

  it('should count the addresses of one IPv6 /64 together', async () => {
    for (let i = 0; i < 11; i += 1) await limit.failed(`2001:db8:1:2::${(i + 1).toString(16)}`);

    expect(limit.blockedFor('2001:db8:1:2:ffff::1')).toBeGreaterThan(0);
    expect(limit.blockedFor('2001:db8:1:3::1')).toBe(0);
  });
});
