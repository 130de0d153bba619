// "It did not happen" means something only if the worker was alive to show it: before asserting that a job was
// not printed (or not twice), register a sentinel job due after it and wait until the sentinel's line is printed.
import { randomUUID } from 'node:crypto';
import type { ServerProcess } from './server-process';
import { eventually } from './wait';

type Register = (body: {
  message: string;
  delay_seconds: number;
}) => Promise<{ status: number } | { statusCode: number }>;

/**
 * Registers a sentinel job through `register`, due in `delaySeconds`, and resolves once `printed` counts its line.
 * Jobs run in the order they fall due, so by then every job due before it has had its chance to print.
 */
export async function untilSentinelPrinted(
  register: Register,
  printed: (message: string) => number,
  delaySeconds = 0,
  timeoutMs = 20_000,
): Promise<string> {
  const message = `sentinel ${randomUUID().slice(0, 8)}`; // short: some specs cap the message at 20 characters
  const answer = await register({ message, delay_seconds: delaySeconds });
  const status = 'status' in answer ? answer.status : answer.statusCode;
  if (status !== 201) throw new Error(`the sentinel job was refused with ${status}`);
  await eventually(
    () => (printed(message) > 0 ? true : undefined),
    timeoutMs,
    `the sentinel job "${message}" to be printed`,
  );
  return message;
}

/** Times `message` was printed across the servers' standard output. */
export const timesPrinted = (servers: readonly ServerProcess[], message: string): number =>
  servers.reduce((sum, server) => sum + server.printed(message).length, 0);

/**
 * Waits until every message has been printed by one of `servers`, then until a sentinel registered through `via`
 * and due in `sentinelDelaySeconds` is printed by one of them: a duplicate due by then would have shown.
 */
export async function untilAllPrinted(
  servers: readonly ServerProcess[],
  messages: readonly string[],
  via: ServerProcess,
  sentinelDelaySeconds = 1,
  timeoutMs = 20_000,
): Promise<void> {
  const missing = () => messages.filter((message) => timesPrinted(servers, message) === 0);
  await eventually(
    () => (missing().length === 0 ? true : undefined),
    timeoutMs,
    () => `every job to be printed (${missing().length} of ${messages.length} never were)`,
    50,
  );
  await untilSentinelPrinted(
    (body) => via.register(body),
    (message) => timesPrinted(servers, message),
    sentinelDelaySeconds,
    timeoutMs,
  );
}
