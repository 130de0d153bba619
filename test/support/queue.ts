// Reads what Redis holds for the service's queue, as a BullMQ client.
import { Queue } from 'bullmq';

export const SERVICE_QUEUE = 'jobs';
export const SERVICE_PREFIX = '{dm-jobqueue}';

export function serviceQueue(redisUrl: string, prefix = SERVICE_PREFIX): Queue {
  const queue = new Queue(SERVICE_QUEUE, { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix });
  queue.on('error', () => undefined); // the specs stop Redis on purpose
  return queue;
}

/** Jobs stored in any state. */
export async function storedJobs(queue: Queue): Promise<number> {
  const counts = await queue.getJobCounts();
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}
