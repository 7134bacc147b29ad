import type { Redis } from 'ioredis';

/**
 * A Redis cache store that never throws: every failure of Redis becomes a value the caller
 * can act on. That is the whole contract of a cache-aside store, because a cache is an
 * optimisation: when Redis is down or slow, the app must answer from PostgreSQL
 * (`X-Cache: BYPASS`), never with a 500.
 *
 * - `get` answers 'hit' with the stored bytes, 'miss' when the key is not there (or has
 *   expired), or 'error' when Redis could not answer. 'miss' and 'error' are different on
 *   purpose: after a miss the caller stores the fresh value; after an error it should not
 *   (Redis just failed, a SET would most likely fail too and cost another timeout).
 * - `set` is `SET key value EX ttlSeconds`: the value and its expiry in one atomic command.
 *   (`SET` then `EXPIRE` is two commands: a crash between them leaves a key that never
 *   expires.) Resolves true when Redis stored it, false when it could not.
 * - `delete` resolves true when the command ran (whether or not the keys existed), false
 *   when Redis could not be reached.
 *
 * Values are bytes (`Buffer`), stored and returned as they are: `getBuffer`, not `get`, so
 * that nothing is decoded to a string on the way and any bytes (JSON, gzip, …) survive.
 */
export type RedisLookup = { status: 'hit'; body: Buffer } | { status: 'miss' } | { status: 'error'; error: Error };

export interface RedisStore {
  get(key: string): Promise<RedisLookup>;
  /**
   * Store `body` under `key` for `ttlSeconds` (default: the store's). The only rejection is
   * a `ttlSeconds` that is not a positive whole number: a bug in the caller, not a Redis failure.
   */
  set(key: string, body: Buffer, ttlSeconds?: number): Promise<boolean>;
  delete(...keys: string[]): Promise<boolean>;
}

export interface RedisStoreOptions {
  /** The client (see createRedisClient: fail fast, reconnect forever). The store never closes it. */
  redis: Redis;
  /** Default time to live of an entry, in whole seconds (> 0). Redis deletes the key after it. */
  ttlSeconds: number;
  /** Called with each Redis failure and the operation ('get' | 'set' | 'delete'). Must not throw. Default: ignore. */
  onError?: (error: Error, operation: string) => void;
}

function checkTtl(ttlSeconds: unknown, where: string): asserts ttlSeconds is number {
  if (typeof ttlSeconds !== 'number' || !Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new TypeError(
      `${where}: ttlSeconds must be a positive whole number of seconds (Redis SET … EX takes whole seconds), got ${String(ttlSeconds)}.`,
    );
  }
}

const MISS: RedisLookup = { status: 'miss' };

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

export function createRedisStore(options: RedisStoreOptions): RedisStore {
  const { redis, ttlSeconds: defaultTtl } = options;
  checkTtl(defaultTtl, 'createRedisStore');
  const onError = options.onError ?? (() => {});
  const fail = (err: unknown, operation: string): Error => {
    const error = asError(err);
    try {
      onError(error, operation);
    } catch {
      // A logger that throws must not turn a cache failure into a 500.
    }
    return error;
  };

  return {
    // `.then`, not `async`/`await`: on the hot path (every hit) this is one promise, where
    // an async function would add a second one around the await.
    get(key) {
      return redis.getBuffer(key).then(
        (body): RedisLookup => (body === null ? MISS : { status: 'hit', body }),
        (err: unknown): RedisLookup => ({ status: 'error', error: fail(err, 'get') }),
      );
    },

    async set(key, body, ttlSeconds = defaultTtl) {
      checkTtl(ttlSeconds, 'RedisStore.set');
      try {
        await redis.set(key, body, 'EX', ttlSeconds);
        return true;
      } catch (err) {
        fail(err, 'set');
        return false;
      }
    },

    async delete(...keys) {
      if (keys.length === 0) return true;
      try {
        await redis.del(...keys);
        return true;
      } catch (err) {
        fail(err, 'delete');
        return false;
      }
    },
  };
}
