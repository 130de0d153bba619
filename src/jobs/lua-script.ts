import type { RedisClient } from '../redis/redis-connection.factory';

export type LuaScript<T> = (keys: readonly string[], args: readonly (string | number)[]) => Promise<T>;

/**
 * A Lua script run atomically by Redis, sent as EVALSHA through ioredis's defineCommand (which falls back
 * to EVAL when Redis does not know the script yet, after a restart for example). Every key the script
 * touches must be passed in `keys`, all in one hash slot, as Redis Cluster requires. Without `numberOfKeys`
 * the script takes any number of keys: the command's first argument is then their count.
 */
export function defineLuaScript<T>(
  redis: RedisClient,
  name: string,
  numberOfKeys: number | undefined,
  lua: string,
): LuaScript<T> {
  redis.defineCommand(name, { numberOfKeys, lua });
  const command = (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<T>>)[name];
  return (keys, args) =>
    numberOfKeys === undefined
      ? command.call(redis, keys.length, ...keys, ...args)
      : command.call(redis, ...keys, ...args);
}
