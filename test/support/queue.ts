// Reads what Redis holds for the service's queue, as a BullMQ client.
import { Queue, Worker } from 'bullmq';

export const SERVICE_QUEUE = 'jobs';
export const SERVICE_PREFIX = '{dm-jobqueue}';

export function serviceQueue(redisUrl: string, prefix = SERVICE_PREFIX): Queue {
  const queue = new Queue(SERVICE_QUEUE, { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix });
  queue.on('error', () => undefined); // the specs stop Redis on purpose
  return queue;
}

/**
 * A worker on the service's queue that takes jobs only when asked (`getNextJob(token)`), as another process would:
 * a spec holds a job active with it, or ends one (`moveToCompleted`, `moveToFailed`). Close it after.
 */
export function manualWorker(redisUrl: string, prefix = SERVICE_PREFIX): Worker {
  const worker = new Worker(SERVICE_QUEUE, null, {
    connection: { url: redisUrl, maxRetriesPerRequest: null },
    prefix,
    autorun: false,
  });
  worker.on('error', () => undefined);
  return worker;
}

/** Jobs stored in any state. */
export async function storedJobs(queue: Queue): Promise<number> {
  const counts = await queue.getJobCounts();
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}
