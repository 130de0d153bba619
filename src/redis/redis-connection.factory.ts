// The one place that builds Redis connections and decides how each behaves while Redis is away.
import { Logger } from '@nestjs/common';
import Redis, { Cluster, ClusterNode, RedisOptions } from 'ioredis';
import { LogThrottle } from '../common/log-throttle';
import { withTimeout } from '../common/timeout';

export type ConnectionRole = 'producer' | 'worker';
/** A single Redis or a Redis Cluster: BullMQ and the rest of the service take either. */
export type RedisClient = Redis | Cluster;

/**
 * Where Redis is: a URL; with cluster nodes a cluster, with sentinels the primary they name (the URL then gives the
 * data nodes' credentials and TLS, and with sentinels the database).
 */
export interface RedisTarget {
  url: string;
  clusterNodes?: ClusterNode[];
  sentinels?: { host: string; port: number }[];
  /** The name the sentinels monitor the primary under. */
  sentinelMaster?: string;
  sentinelPassword?: string;
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

/** "host:port,host:port" (REDIS_CLUSTER_NODES, REDIS_SENTINELS) as ioredis addresses. */
export function parseHostPorts(list: string): { host: string; port: number }[] {
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

/**
 * Sentinel discovery: every connect asks the sentinels (in turn, for ever) for the primary's address and checks that
 * it is a primary; the failover detector subscribes to the sentinels' `+switch-master` so that a promotion moves the
 * connection at once; a write refused as READONLY (a primary demoted under an open connection) reconnects.
 */
function sentinelOptions(target: RedisTarget, options: RedisOptions): RedisOptions {
  const tls = new URL(target.url).protocol === 'rediss:';
  const db = Number(new URL(target.url).pathname.slice(1) || 0);
  return {
    ...options,
    ...credentialsFrom(target.url),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    sentinels: target.sentinels,
    name: target.sentinelMaster,
    ...(target.sentinelPassword !== undefined ? { sentinelPassword: target.sentinelPassword } : {}),
    ...(tls ? { enableTLSForSentinelMode: true } : {}),
    sentinelRetryStrategy: reconnectDelay,
    failoverDetector: true,
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
  };
}

export function createRedisConnection(url: string, role: ConnectionRole): Redis;
export function createRedisConnection(target: RedisTarget, role: ConnectionRole): RedisClient;
export function createRedisConnection(target: string | RedisTarget, role: ConnectionRole): RedisClient {
  const resolved: RedisTarget = typeof target === 'string' ? { url: target } : target;
  const { url, clusterNodes = [], sentinels = [] } = resolved;
  const options = connectionOptions(role);
  let client: RedisClient;
  if (sentinels.length > 0) client = reconnectAfterEnd(new Redis(sentinelOptions(resolved, options)));
  else if (clusterNodes.length > 0)
    client = new Cluster(clusterNodes, {
      redisOptions: { ...options, ...credentialsFrom(url) },
      clusterRetryStrategy: reconnectDelay,
      enableOfflineQueue: options.enableOfflineQueue,
      enableAutoPipelining: options.enableAutoPipelining,
    });
  else client = new Redis(url, options);
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

/** Connections closeRedisConnection is closing: their end is wanted. */
const closing = new WeakSet<RedisClient>();

/**
 * A Sentinel connection that ends without being closed connects again. ioredis 5 ends one for good when the failover
 * detector of its previous connection fires while it is still asking the sentinels for the new primary (the dead
 * primary's connection dropped first, `+switch-master` came during the reconnect): its connect fails with
 * "Connection is closed." and it gives up, so register would answer 503 until a restart (found by the failover test).
 */
function reconnectAfterEnd(client: Redis): Redis {
  client.on('end', () => {
    if (closing.has(client)) return;
    setTimeout(() => {
      if (client.status === 'end' && !closing.has(client)) client.connect().catch(() => undefined);
    }, reconnectDelay(1));
  });
  return client;
}

/** QUIT politely, but never wait longer than `ms`: a frozen or absent Redis must not block shutdown. */
export async function closeRedisConnection(client: RedisClient, ms: number): Promise<void> {
  closing.add(client);
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    await withTimeout(client.quit(), ms, 'QUIT').catch(() => undefined);
  }
  client.disconnect();
}
