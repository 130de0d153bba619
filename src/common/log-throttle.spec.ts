import type { Logger } from '@nestjs/common';
import { LogThrottle } from './log-throttle';

describe('LogThrottle', () => {
  let error: jest.Mock;
  let throttle: LogThrottle;

  beforeEach(() => {
    jest.useFakeTimers();
    jest.setSystemTime(new Date('2026-01-02T00:00:00Z'));
    error = jest.fn();
    throttle = new LogThrottle({ error } as unknown as Logger, 1_000);
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('should log the same message only once within the interval', () => {
    throttle.error('Redis unavailable: ECONNREFUSED');
    jest.setSystemTime(Date.now() + 999);
    throttle.error('Redis unavailable: ECONNREFUSED');

    expect(error.mock.calls).toEqual([['Redis unavailable: ECONNREFUSED']]);
  });

  it('should log it again after the interval, with the number suppressed meanwhile', () => {
    throttle.error('Redis unavailable: ECONNREFUSED');
    throttle.error('Redis unavailable: ECONNREFUSED');
    jest.setSystemTime(Date.now() + 1_000);
    throttle.error('Redis unavailable: ECONNREFUSED');

    expect(error.mock.calls).toEqual([
      ['Redis unavailable: ECONNREFUSED'],
      ['Redis unavailable: ECONNREFUSED (repeated 1 times since)'],
    ]);
  });

  it('should count every suppressed repeat', () => {
    throttle.error('boom');
    throttle.error('boom');
    throttle.error('boom');
    throttle.error('boom');
    jest.setSystemTime(Date.now() + 1_500);
    throttle.error('boom');

    expect(error.mock.calls).toEqual([['boom'], ['boom (repeated 3 times since)']]);
  });

  it('should not mention repeats when nothing was suppressed', () => {
    throttle.error('boom');
    jest.setSystemTime(Date.now() + 5_000);
    throttle.error('boom');

    expect(error.mock.calls).toEqual([['boom'], ['boom']]);
  });

  it('should log different messages each', () => {
    throttle.error('Redis unavailable: ECONNREFUSED');
    throttle.error('Redis unavailable: ETIMEDOUT');
    throttle.error('Redis unavailable: ECONNREFUSED');

    expect(error.mock.calls).toEqual([['Redis unavailable: ECONNREFUSED'], ['Redis unavailable: ETIMEDOUT']]);
  });

  it('should log the next message at once after reset()', () => {
    throttle.error('boom');
    throttle.error('boom');
    throttle.reset();
    throttle.error('boom');

    expect(error.mock.calls).toEqual([['boom'], ['boom']]);
  });

  it('should default to a 30 s interval', () => {
    const defaults = new LogThrottle({ error } as unknown as Logger);
    defaults.error('boom');
    jest.setSystemTime(Date.now() + 29_999);
    defaults.error('boom');
    jest.setSystemTime(Date.now() + 1);
    defaults.error('boom');

    expect(error.mock.calls).toEqual([['boom'], ['boom (repeated 1 times since)']]);
  });
});
