import type { Redis } from 'ioredis';

/**
 * Tags: the other way to invalidate many keys at once. Each tag is a Redis set holding the
 * keys that carry it; a key may carry several tags (the company overview carries the tag of
 * every department). Invalidating a tag takes its set and deletes every key in it.
 *
 *   fill    SET dept-summary:v1:dept=Sales …        (the cache, as usual)
 *           SADD tag:v1:dept=Sales dept-summary:v1:dept=Sales ; EXPIRE tag:… ttl   (one MULTI)
 *   write   SMEMBERS tag:v1:dept=Sales ; DEL tag:v1:dept=Sales                    (one MULTI)
 *           then delete each member (L2, this L1, the other L1s over the bus)
 *
 * Compared with versioned keys (dept-version.ts): no extra command on a read hit and no
 * orphaned entries (the keys really go), but a write costs one delete per tagged key, the
 * index costs memory (a set of key names per tag), and registering a key is a second
 * command after the fill, not atomic with it. Losing the set (evicted, expired early) is
 * silent: the next write finds nothing to delete and the entries live until their TTL.
 *
 * Order on a fill: store the value first, then register it. A write that runs in between
 * misses the new key, but the key is in the set for the next write. The other order lets a
 * write delete the set *before* the key is stored, and the key is then in no set at all.
 */
export interface TagIndex {
  /**
   * Record that `key` carries every tag in `tagKeys` (full Redis keys of the sets). Each set
   * gets the TTL again, so it lives as long as its newest member. Resolves false when Redis
   * could not be reached; never throws.
   */
  add(key: string, tagKeys: readonly string[]): Promise<boolean>;
  /**
   * Take the sets of `tagKeys` out of Redis atomically and return the keys they held (each
   * once). The caller deletes those keys. `ok` is false when Redis could not be reached.
   */
  take(tagKeys: readonly string[]): Promise<{ ok: boolean; keys: string[] }>;
}

export interface TagIndexOptions {
  redis: Redis;
  /** TTL of a tag set, whole seconds: at least the TTL of the keys it indexes. */
  ttlSeconds: number;
  /** Called with each Redis failure. Must not throw. */
  onError?: (error: Error, operation: string) => void;
}

const asError = (err: unknown) => (err instanceof Error ? err : new Error(String(err)));

export function createTagIndex(options: TagIndexOptions): TagIndex {
  const { redis, ttlSeconds } = options;
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new TypeError(
      `createTagIndex: ttlSeconds must be a positive whole number of seconds, at least the TTL of the tagged keys; got ${String(ttlSeconds)}.`,
    );
  }
  const onError = options.onError ?? (() => {});

  const run = async <T>(operation: string, fn: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      onError(asError(err), operation);
      return fallback;
    }
  };

  return {
    add: (key, tagKeys) =>
      run<boolean>(
        'tag',
        async () => {
          if (tagKeys.length === 0) return true;
          const tx = redis.multi();
          for (const tag of tagKeys) tx.sadd(tag, key).expire(tag, ttlSeconds);
          const results = await tx.exec();
          const failed = results?.find(([error]) => error);
          if (failed?.[0]) throw failed[0];
          return true;
        },
        false,
      ),

    take: (tagKeys) =>
      run<{ ok: boolean; keys: string[] }>(
        'invalidate-tag',
        async () => {
          if (tagKeys.length === 0) return { ok: true, keys: [] };
          const tx = redis.multi();
          for (const tag of tagKeys) tx.smembers(tag);
          tx.del(...tagKeys);
          const results = (await tx.exec()) ?? [];
          const keys = new Set<string>();
          for (const [error, members] of results.slice(0, tagKeys.length)) {
            if (error) throw error;
            for (const member of members as string[]) keys.add(member);
          }
          return { ok: true, keys: [...keys] };
        },
        { ok: false, keys: [] },
      ),
  };
}
