import { Redis } from 'ioredis';

/**
 * The Redis client of the cache. A cache is an optimisation: when Redis is down or slow, a
 * command must fail fast (the app then answers from PostgreSQL), never wait.
 */
export function createRedisClient(url: string): Redis {
  const redis = new Redis(url, {
    // While disconnected, reject a command at once instead of queueing it until Redis is
    // back: with the queue on, every request waits for as long as the outage lasts.
    enableOfflineQueue: false,
    // A command Redis does not answer in 200 ms is rejected: a slow or black-holed Redis then
    // costs a request at most 200 ms (and nothing once the circuit is open).
    commandTimeout: 200,
    // A command caught by a dropped connection is retried once, not 20 times.
    maxRetriesPerRequest: 1,
    // A host that drops packets never refuses: give up on a connection attempt after 1 s.
    connectTimeout: 1_000,
    // Keep reconnecting forever, at most 1 s apart, so caching resumes without a restart.
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 1_000),
  });
  // Without a listener, ioredis prints every failed reconnection.
  redis.on('error', () => {});
  return redis;
}
