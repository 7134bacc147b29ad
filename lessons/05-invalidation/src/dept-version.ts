import type { Redis } from 'ioredis';
import type { DirectoryKeys } from './keys.ts';

/**
 * Versioned (dependency) keys for department lists. Every list key carries the department's
 * current version, `dept-employees:v1:dept=Sales&dept_version=1718000000123&page=2`, read
 * from one small Redis key, `dept-version:v1:dept=Sales`. A write to Sales INCRs that key:
 * from then on every reader builds keys with the new number, so **every page of Sales is
 * invalidated by one O(1) command**, however many pages (and page sizes, sort orders,
 * filters…) were cached. Nothing is deleted: the old pages are simply never read again and
 * expire with their TTL.
 *
 * Costs and limits we accept:
 * - one extra Redis round trip on every read (GET the version), even when the page itself
 *   is in L1 — the version cannot be held in L1 without being invalidated in turn;
 * - orphaned pages use memory until their TTL ends: keep list TTLs bounded;
 * - **the version key must not be lost**. If Redis evicts it, the next reader must not
 *   start again from a number some old, still-cached pages were written under. So a missing
 *   version is created as the current time in ms (`SET … NX`), never as 0 or 1: it is
 *   larger than any earlier version of that department unless there were more writes than
 *   milliseconds since that one was created. INCR alone would create a missing key as 1.
 *   In production, keep version keys out of eviction's reach: they have no TTL, so
 *   `maxmemory-policy volatile-lru` (which evicts only keys with a TTL) never evicts them.
 */
export type VersionLookup = { status: 'ok'; version: number } | { status: 'error'; error: Error };

export interface DeptVersions {
  /** The current version of `dept`'s list, created if missing. Never throws. */
  current(dept: string): Promise<VersionLookup>;
  /**
   * Move each department to a new version, atomically (one MULTI). Call it after the write
   * committed. Resolves false when Redis could not be reached (the pages then stay until
   * their TTL: the write still succeeded).
   */
  bump(depts: readonly string[]): Promise<boolean>;
}

export interface DeptVersionsOptions {
  redis: Redis;
  keys: DirectoryKeys;
  /** Clock for new versions, in ms since the epoch. Default Date.now. */
  now?: () => number;
  /** Called with each Redis failure. Must not throw. */
  onError?: (error: Error, operation: string) => void;
}

const asError = (err: unknown) => (err instanceof Error ? err : new Error(String(err)));

export function createDeptVersions(options: DeptVersionsOptions): DeptVersions {
  const { redis, keys } = options;
  const now = options.now ?? Date.now;
  const onError = options.onError ?? (() => {});

  return {
    async current(dept) {
      const key = keys.deptVersion(dept);
      try {
        const value = await redis.get(key);
        if (value !== null) return { status: 'ok', version: Number(value) };
        // Missing (first use, or evicted): create it, unless another instance just did.
        const created = await redis.multi().set(key, now(), 'NX').get(key).exec();
        const [, [error, read] = [null, null]] = created ?? [];
        if (error) throw error;
        return { status: 'ok', version: Number(read) };
      } catch (err) {
        const error = asError(err);
        onError(error, 'version');
        return { status: 'error', error };
      }
    },

    async bump(depts) {
      if (depts.length === 0) return true;
      const tx = redis.multi();
      // SET NX first: INCR of a missing key would start at 1 (see above).
      for (const dept of new Set(depts)) tx.set(keys.deptVersion(dept), now(), 'NX').incr(keys.deptVersion(dept));
      try {
        const results = await tx.exec();
        const failed = results?.find(([error]) => error);
        if (failed?.[0]) throw failed[0];
        return true;
      } catch (err) {
        onError(asError(err), 'bump');
        return false;
      }
    },
  };
}
