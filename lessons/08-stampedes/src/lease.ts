import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * A lease in Redis: "I am loading this key; the rest of you, wait for my result".
 * Single-flight makes one load per key *per process*; with three instances behind a load
 * balancer that is still three queries for every cold key. The lease makes it one.
 *
 *     acquire:  SET <lease key> <random token> NX PX <ttl>
 *     release:  if GET <lease key> == my token then DEL   (one Lua script: atomic)
 *
 * - `NX`: only one instance can create the key; the others get null and know somebody is
 *   loading. Redis runs commands one at a time, so there is no race between "check" and "set".
 * - `PX ttl`: **the lease expires by itself.** An instance that crashes, or freezes in a
 *   long GC pause, while holding it must not block everybody forever. Choose the TTL
 *   longer than a normal load, so that a slow load is not joined by a second one.
 * - The token: release deletes the lease only if it is still *ours*. Without the check, a
 *   holder whose lease expired mid-load (slow query) would delete the lease the next
 *   instance now holds, letting a third one in. GET-then-DEL from the client has the same
 *   hole between the two commands, hence the script: Redis runs it without interleaving.
 *
 * This is a lease for efficiency (fewer duplicate loads), not a lock for correctness: when
 * the lease expires early, two loads happen, which is wasteful but harmless, because what
 * protects the *data* is the generation check in generation.ts. (Martin Kleppmann's "How to
 * do distributed locking" explains why a Redis lock cannot be trusted for correctness.)
 */

/** Delete KEYS[1] only if its value is ARGV[1] (our token). Returns 1 when deleted. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

export interface Lease {
  /** The lease's key in Redis. */
  key: string;
  /** Our random token: proof that the lease is still ours when we release it. */
  token: string;
}

/** What `acquire` can answer. 'held' means another holder has it; 'error' means Redis failed. */
export type AcquireResult =
  | { status: 'acquired'; lease: Lease }
  | { status: 'held' }
  | { status: 'error'; error: Error };

export interface Leases {
  /** Try once to take the lease on `key` for `ttlMs`. Never throws. */
  acquire(key: string, ttlMs: number): Promise<AcquireResult>;
  /** Give the lease back if it is still ours. Resolves true when it was ours and is now gone. Never throws. */
  release(lease: Lease): Promise<boolean>;
}

export function createLeases(redis: Redis, onError: (error: Error, operation: string) => void = () => {}): Leases {
  return {
    async acquire(key, ttlMs) {
      if (!(Number.isSafeInteger(ttlMs) && ttlMs > 0)) {
        throw new TypeError(`Leases.acquire: ttlMs must be a positive whole number of ms, got ${String(ttlMs)}.`);
      }
      const token = randomBytes(16).toString('base64url');
      try {
        const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
        return ok === 'OK' ? { status: 'acquired', lease: { key, token } } : { status: 'held' };
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        onError(error, 'lease');
        return { status: 'error', error };
      }
    },
    async release(lease) {
      try {
        return (await redis.eval(RELEASE, 1, lease.key, lease.token)) === 1;
      } catch (err) {
        // The lease expires by itself: a failed release costs the others at most its TTL.
        onError(err instanceof Error ? err : new Error(String(err)), 'lease release');
        return false;
      }
    },
  };
}
