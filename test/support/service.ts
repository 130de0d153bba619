// The usual fixture of the fault specs: a private redis-server, the built server on it, and a BullMQ
// view of its queue, started together and closed together.
import type { Queue } from 'bullmq';
import { testEnv } from './app';
import { serviceQueue } from './queue';
import { RedisServer, RedisServerOptions } from './redis-server';
import { ServerProcess } from './server-process';

export interface Service {
  redis: RedisServer;
  server: ServerProcess;
  queue: Queue;
  close(): Promise<void>;
}

export async function startService(
  env: Record<string, string> = {},
  redisOptions: RedisServerOptions = {},
): Promise<Service> {
  const redis = await RedisServer.start(redisOptions);
  const server = await ServerProcess.start(testEnv(redis.url, env));
  await server.untilReady();
  const queue = serviceQueue(redis.url);
  return {
    redis,
    server,
    queue,
    close: async () => {
      await server.stop();
      await queue.close();
      await redis.close();
    },
  };
}
