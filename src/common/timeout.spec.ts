import { TimeoutError, withTimeout } from './timeout';

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

describe('withTimeout', () => {
  it('should resolve with the value of a promise that settles in time', async () => {
    await expect(withTimeout(Promise.resolve('PONG'), 1_000, 'PING')).resolves.toBe('PONG');
  });

  it('should reject with the error of a promise that rejects in time', async () => {
    const failure = new Error('connection lost');

    await expect(withTimeout(Promise.reject(failure), 1_000, 'PING')).rejects.toBe(failure);
  });

  it('should reject with a TimeoutError naming the operation when the promise never settles', async () => {
    const error: unknown = await withTimeout(never<string>(), 20, 'PING').catch((reason: unknown) => reason);

    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).name).toBe('TimeoutError');
    expect((error as TimeoutError).message).toBe('PING timed out after 20 ms');
  });

  it('should call it "operation" when no label is given', async () => {
    await expect(withTimeout(never<void>(), 20)).rejects.toThrow('operation timed out after 20 ms');
  });

  it('should clear its timer once a rejected promise has settled', async () => {
    jest.useFakeTimers();
    try {
      await expect(withTimeout(Promise.reject(new Error('down')), 20, 'x')).rejects.toThrow('down');
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('should clear its timer once the promise has settled', async () => {
    jest.useFakeTimers();
    try {
      const result = withTimeout(Promise.resolve(1), 20, 'x');
      await expect(result).resolves.toBe(1);
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});
