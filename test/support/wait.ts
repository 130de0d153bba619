// The one way the specs wait: a plain pause, or a poll until a condition holds within a bound.

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `check` every `intervalMs` until it returns a value other than undefined (a throw counts as "not yet"),
 * or fails after `timeoutMs`. `what` names the condition in the error; a function is read only then, so the
 * error can show the state at the deadline.
 */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
  what: string | (() => string) = 'condition',
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const name = typeof what === 'function' ? what() : what;
      const reason = last instanceof Error ? String(last) : JSON.stringify(last);
      throw new Error(`timed out waiting for ${name}${last ? `: ${reason}` : ''}`);
    }
    await sleep(intervalMs);
  }
}
