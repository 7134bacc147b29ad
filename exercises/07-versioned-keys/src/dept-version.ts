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
// biome-ignore lint/correctness/noUnusedFunctionParameters: the starter does not read Redis yet (see the TODO).
export async function currentVersion(redis: Redis, prefix: string, dept: string): Promise<number> {
  // TODO: read the department's version from Redis (no key yet means version 0).
  return 0;
}

/**
 * Move the department to a new version and return it. Called once per department a committed
 * write changed; several instances may call it at the same moment for the same department,
 * and every call must count. Rejects when Redis cannot answer.
 */
// biome-ignore lint/correctness/noUnusedFunctionParameters: the starter does not write to Redis yet (see the TODO).
export async function bumpVersion(redis: Redis, prefix: string, dept: string): Promise<number> {
  // TODO: move the department's version on by one, so that no concurrent bump is lost.
  return 0;
}
