// Waits until a server process is stuck in a job (its stdout blocked mid-write), as the kill specs need it.
import type { Queue } from 'bullmq';
import type { ServerProcess } from './server-process';
import { eventually } from './wait';

/** Whether `server` answers GET /health/live within `ms`. */
const answers = (server: ServerProcess, ms: number): Promise<boolean> =>
  server.fetch('/health/live', { signal: AbortSignal.timeout(ms) }).then(
    () => true,
    () => false,
  );

/**
 * Resolves once `server` is stuck, not slow: a job is active, nothing has completed for 1.5 s, and the process does
 * not even answer HTTP (its event loop is blocked in the write), so it cannot finish that job before a kill. Under
 * load a slow process can look idle for a while: hence a generous `timeoutMs`.
 */
export async function untilStuckInAJob(queue: Queue, server: ServerProcess, timeoutMs: number): Promise<void> {
  let completed = -1;
  let unchangedSince = Date.now();
  await eventually(
    async () => {
      const [now, active] = await Promise.all([queue.getCompletedCount(), queue.getActiveCount()]);
      if (now !== completed) [completed, unchangedSince] = [now, Date.now()];
      else if (active > 0 && Date.now() - unchangedSince > 1_500 && !(await answers(server, 1_000))) return true;
      return undefined;
    },
    timeoutMs,
    'the server to get stuck in a job',
    50,
  );
}
