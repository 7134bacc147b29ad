import { Redis } from 'ioredis';

/**
 * The Redis client of the cache. A cache is an optimisation: when Redis is down or slow, a
 * command must fail fast (the app then answers from PostgreSQL), never wait.
 *
 * The tests create the client with this function (pointed at a proxy they can cut, slow
 * down or black-hole), so whatever you configure here is what they exercise.
 */
export function createRedisClient(url: string): Redis {
  // TODO: configure the client so that a command fails fast instead of waiting: while
  // disconnected (no offline queue), when Redis does not answer (a command timeout of at most
  // 250 ms), with bounded retries per command, and keep reconnecting by itself.
  const redis = new Redis(url);
  // Without a listener, ioredis prints every failed reconnection.
  redis.on('error', () => {});
  return redis;
}
