import type { RedisClient } from '../redis/redis-connection.factory';

export type LuaScript<T> = (keys: readonly string[], args: readonly (string | number)[]) => Promise<T>;

/**
 * A Lua script run atomically by Redis, sent as EVALSHA through ioredis's defineCommand (which falls back
 * to EVAL when Redis does not know the script yet, after a restart for example). Every key the script
 * touches must be passed in `keys`, all in one hash slot, as Redis Cluster requires.
 */
export function defineLuaScript<T>(redis: RedisClient, name: string, numberOfKeys: number, lua: string): LuaScript<T> {
  redis.defineCommand(name, { numberOfKeys, lua });
  const command = (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<T>>)[name];
  return (keys, args) => command.call(redis, ...keys, ...args);
}
