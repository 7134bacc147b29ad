import { CONNECT_TIMEOUT_MS, DEFAULT_COMMAND_TIMEOUT_MS } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { Cluster } from 'ioredis';

/**
 * An ioredis Cluster client with lesson 03's fail-fast settings on every node connection.
 * What changes with a cluster, for this cache:
 *
 * - a key lives in one of 16,384 slots, on one node; commands on several keys (MULTI, a
 *   script) must keep all their keys in one slot. A hash tag does that: only the part in
 *   `{…}` is hashed, so `{cachelab:10:bus}:epoch` and `{cachelab:10:bus}:invalidation` share
 *   a slot. Our single-key GET/SET/DEL need nothing.
 * - plain PUBLISH is broadcast to every node of the cluster; SPUBLISH (Redis 7) goes to the
 *   shard of the channel only, and SSUBSCRIBE listens there (`shardedSubscribers`).
 * - the client follows MOVED/ASK redirections and refreshes the slot map by itself.
 */
export function createClusterClient(
  nodes: { host: string; port: number }[],
  options: { commandTimeoutMs?: number } = {},
): Cluster {
  return new Cluster(nodes, {
    enableOfflineQueue: false,
    shardedSubscribers: true,
    // A node that does not answer must not hold a request: the same limits as lesson 03.
    redisOptions: {
      commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
    },
    clusterRetryStrategy: (attempt) => Math.min(100 * 2 ** (attempt - 1), 1_000),
  });
}
