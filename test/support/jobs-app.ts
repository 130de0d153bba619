// The usual fixture of the job API's e2e specs: a private redis-server, the real AppModule on it (in this process),
// a BullMQ view of its queue, and the job lines it prints, started together and closed together.
import type { Queue } from 'bullmq';
import { startApp, TestApp, testEnv } from './app';
import { JobLines } from './job-lines';
import { serviceQueue } from './queue';
import { RedisServer, RedisServerOptions } from './redis-server';

export interface JobsApp {
  redis: RedisServer;
  app: TestApp;
  queue: Queue;
  lines: JobLines;
  close(): Promise<void>;
}

/** `env` on top of testEnv(), with the spec's own QUEUE_PREFIX; the job lines are captured before the app starts. */
export async function startJobsApp(
  env: Record<string, string> & { QUEUE_PREFIX: string },
  redisOptions: RedisServerOptions = {},
): Promise<JobsApp> {
  const redis = await RedisServer.start(redisOptions);
  const lines = new JobLines();
  let app: TestApp;
  try {
    app = await startApp(testEnv(redis.url, env));
  } catch (error) {
    lines.restore();
    await redis.close();
    throw error;
  }
  const queue = serviceQueue(redis.url, env.QUEUE_PREFIX);
  return {
    redis,
    app,
    queue,
    lines,
    close: async () => {
      await app.close();
      await queue.close();
      lines.restore();
      await redis.close();
    },
  };
}
