import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import type { Redis } from 'ioredis';

/**
 * A department's version: one small number in Redis that every cached page of that
 * department depends on. Readers put it in the page's key; a write that changes the
 * department moves it to a new number, and from then on every reader, on every instance,
 * builds keys nobody has cached yet. The old pages are not deleted: nobody asks for them any
 * more, and their TTL removes them.
 */

/**
 * Where a department's version lives: `dept-version:v1:dept=Sales` under the prefix.
 * The tests read the version under this key: keep it.
 */
export const deptVersionKey = (prefix: string, dept: string) =>
  cacheKey({ prefix, name: 'dept-version', params: { dept } });

/**
 * The department's current version. A department nobody has written to yet has no key in
 * Redis: that is version 0. Rejects when Redis cannot answer (the caller then skips the cache).
 */
export async function currentVersion(redis: Redis, prefix: string, dept: string): Promise<number> {
  // One GET per request, on every instance: the version has to come from the one shared copy
  // in Redis. Kept in memory, it would be one more cached value nobody invalidates.
  // No key yet is 0, not 1: INCR creates a missing key at 1, and the first bump must give the
  // department a number no page was cached under.
  const stored = await redis.get(deptVersionKey(prefix, dept));
  return Number(stored ?? 0);
}

/**
 * Move the department to a new version and return it. Called once per department a committed
 * write changed; several instances may call it at the same moment for the same department,
 * and every call must count. Rejects when Redis cannot answer.
 */
export async function bumpVersion(redis: Redis, prefix: string, dept: string): Promise<number> {
  // INCR reads, adds one and writes in one command, and Redis runs commands one at a time:
  // N concurrent bumps give N new versions. GET then SET is two commands: two writers read the
  // same number, both write the same next one, and one bump is lost.
  // No TTL on the version: if it expired while pages cached under it still lived, the count
  // would start again from 0 and reach those old versions again.
  return redis.incr(deptVersionKey(prefix, dept));
}
