// The one place that builds Redis connections and decides how each behaves while Redis is away.
import { Logger } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { LogThrottle } from '../common/log-throttle';
import { withTimeout } from '../common/timeout';

export type ConnectionRole = 'producer' | 'worker';

/** Reconnect quickly and keep trying for ever: a restarted Redis is picked up within about 2 s. */
export const reconnectDelay = (attempt: number): number => Math.min(attempt * 200, 2_000);

export function connectionOptions(role: ConnectionRole): RedisOptions {
  const common: RedisOptions = {
    retryStrategy: reconnectDelay,
    connectTimeout: 5_000,
    // BullMQ needs it on blocking connections; on the producer a request is bounded by our own timeout.
    maxRetriesPerRequest: null,
  };
  if (role === 'producer') {
    return {
      ...common,
      // While disconnected, fail at once instead of queueing commands in memory …
      enableOfflineQueue: false,
      // … and never replay a command after a reconnect: the client has been answered 503 by then.
      autoResendUnfulfilledCommands: false,
      // Commands issued in the same tick (concurrent registrations) go out in one write, not one each.
      enableAutoPipelining: true,
    };
  }
  return { ...common, enableOfflineQueue: true };
}

export function createRedisConnection(url: string, role: ConnectionRole): Redis {
  const client = new Redis(url, connectionOptions(role));
  const logger = new Logger(`Redis:${role}`);
  const errors = new LogThrottle(logger);
  let lost = false;
  // Without an 'error' listener ioredis prints every failed reconnect; log once per outage instead.
  client.on('error', (error: Error) => {
    lost = true;
    errors.error(`Redis unavailable: ${error.message}`);
  });
  client.on('ready', () => {
    if (lost) logger.log('Redis connection restored');
    lost = false;
    errors.reset();
  });
  return client;
}

/** QUIT politely, but never wait longer than `ms`: a frozen or absent Redis must not block shutdown. */
export async function closeRedisConnection(client: Redis, ms: number): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    await withTimeout(client.quit(), ms, 'QUIT').catch(() => undefined);
  }
  client.disconnect();
}
