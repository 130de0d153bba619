// The one place that builds Redis connections and decides how each behaves while Redis is away.
import { Logger } from '@nestjs/common';
import Redis, { Cluster, ClusterNode, RedisOptions } from 'ioredis';
import { LogThrottle } from '../common/log-throttle';
import { withTimeout } from '../common/timeout';

export type ConnectionRole = 'producer' | 'worker';
/** A single Redis or a Redis Cluster: BullMQ and the rest of the service take either. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: a URL, and with cluster nodes a cluster (the URL then gives credentials and TLS). */
export interface RedisTarget {
  url: string;
  clusterNodes?: ClusterNode[];
}

/** Reconnect quickly and keep trying for ever: a restarted Redis is picked up within about 2 s. */
export const reconnectDelay = (attempt: number): number => Math.min(attempt * 200, 2_000);

export function connectionOptions(role: ConnectionRole): RedisOptions {
  const common: RedisOptions = {
    retryStrategy: reconnectDelay,
    connectTimeout: 5_000,
    // BullMQ needs it on blocking connections (the worker's); the producer's is below.
    maxRetriesPerRequest: null,
  };
  if (role === 'producer') {
    return {
      ...common,
      // While disconnected, fail at once instead of queueing commands in memory …
      enableOfflineQueue: false,
      // … and never replay a command after a reconnect: the client has been answered 503 by then.
      autoResendUnfulfilledCommands: false,
      // … but reject the commands in flight when the connection drops. Left alone, ioredis 5 keeps them aside and
      // drops them unsettled once it reconnects (redis/ioredis#2193): an auto-pipeline among them never finishes,
      // and every later command of the queue's slot waits behind it, so register answered 503 for ever after a
      // primary died under load. With 0 retries, ioredis rejects them as the connection closes.
      maxRetriesPerRequest: 0,
      // Commands issued in the same tick (concurrent registrations) go out in one write, not one each.
      enableAutoPipelining: true,
    };
  }
  return { ...common, enableOfflineQueue: true };
}

/** "host:port,host:port" (REDIS_CLUSTER_NODES) as ioredis cluster nodes. */
export function parseClusterNodes(list: string): ClusterNode[] {
  return list
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const at = entry.lastIndexOf(':');
      return { host: entry.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(entry.slice(at + 1)) };
    });
}

/** Credentials and TLS of a redis:// or rediss:// URL, for the nodes of a cluster. */
function credentialsFrom(url: string): RedisOptions {
  const parsed = new URL(url);
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

export function createRedisConnection(url: string, role: ConnectionRole): Redis;
export function createRedisConnection(target: RedisTarget, role: ConnectionRole): RedisClient;
export function createRedisConnection(target: string | RedisTarget, role: ConnectionRole): RedisClient {
  const { url, clusterNodes = [] } = typeof target === 'string' ? { url: target } : target;
  const options = connectionOptions(role);
  const client: RedisClient =
    clusterNodes.length === 0
      ? new Redis(url, options)
      : new Cluster(clusterNodes, {
          redisOptions: { ...options, ...credentialsFrom(url) },
          clusterRetryStrategy: reconnectDelay,
          enableOfflineQueue: options.enableOfflineQueue,
          enableAutoPipelining: options.enableAutoPipelining,
        });
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
export async function closeRedisConnection(client: RedisClient, ms: number): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    await withTimeout(client.quit(), ms, 'QUIT').catch(() => undefined);
  }
  client.disconnect();
}
