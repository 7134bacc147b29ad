import type { Employee } from '@cachelab/lesson-01-uncached/queries';
import type { TwoLevelCache } from '@cachelab/lesson-04-hierarchical/two-level-cache';
import type { DeptVersions } from './dept-version.ts';
import type { Change } from './employee-writes.ts';
import type { DirectoryKeys } from './keys.ts';
import type { KindCaches } from './kind-caches.ts';
import type { TagIndex } from './tags.ts';

/**
 * What a write makes stale, and removing it — **after the commit**.
 *
 * Why after: invalidating first opens a window in which a reader misses the cache, reads the
 * row that is *still committed* (the old one: the write has not committed yet), and stores
 * it again. The write then commits and nobody invalidates after it: the old value is served
 * until its TTL. After the commit, any reader that misses loads the new row. (test/write-race
 * .test.ts plays both orders with a held row lock.)
 *
 * One write can touch several kinds of cached data:
 *
 *   what changed                  employee keys        list versions (INCR)    aggregate tags
 *   name or email                 profile              its department          —
 *   department                    profile              old and new             old and new
 *   status                        status               —                       its department
 *   hired (POST)                  —                    its department          its department
 *   left (DELETE)                 profile, status      its department          its department
 *
 * Lists hold names and emails, not statuses, so a status change (ten a day per person)
 * leaves every list page cached. Counts hold statuses, not names, so a rename leaves them.
 */
export interface Affected {
  /** Employees whose cached profile is now wrong. */
  profiles: number[];
  /** Employees whose cached status is now wrong. */
  statuses: number[];
  /** Departments whose list pages are now wrong (their version is bumped). */
  lists: string[];
  /** Departments whose counts are now wrong (their tag is invalidated). */
  counts: string[];
}

const profileOf = (e: Employee) => [e.name, e.email, e.department].join('\u0000');

/** Pure: the cached data a change makes stale. */
export function affectedBy(change: Change): Affected {
  const { before, after } = change;
  const affected: Affected = { profiles: [], statuses: [], lists: [], counts: [] };
  const departments = [...new Set([before?.department, after?.department].filter((d): d is string => !!d))];
  if (before && after) {
    if (profileOf(before) !== profileOf(after)) {
      affected.profiles.push(after.id);
      affected.lists.push(...departments);
    }
    if (before.status !== after.status) affected.statuses.push(after.id);
    if (before.status !== after.status || before.department !== after.department) affected.counts.push(...departments);
  } else if (before || after) {
    const employee = (before ?? after) as Employee;
    if (before) {
      affected.profiles.push(employee.id);
      affected.statuses.push(employee.id);
    }
    affected.lists.push(employee.department);
    affected.counts.push(employee.department);
  }
  return affected;
}

export interface InvalidationReport {
  /** Every step reached Redis (false: some cached data stays until its TTL). */
  ok: boolean;
  /** Keys deleted (employee keys and tagged aggregates), for logs and tests. */
  deleted: string[];
  /** Departments whose list version moved. */
  bumped: string[];
  durMs: number;
}

export interface Invalidator {
  /** Remove what `change` made stale. Call it once the write has committed. Never throws. */
  afterCommit(change: Change): Promise<InvalidationReport>;
}

export function createInvalidator(deps: {
  caches: KindCaches;
  versions: DeptVersions;
  tags: TagIndex;
  keys: DirectoryKeys;
}): Invalidator {
  const { caches, versions, tags, keys } = deps;
  return {
    async afterCommit(change) {
      const started = performance.now();
      const affected = affectedBy(change);
      const deleted: string[] = [];
      // Each TwoLevelCache.delete is lesson 04's: L2, this L1, then the bus for the other L1s.
      const drop = async (cache: TwoLevelCache, key: string) => {
        deleted.push(key);
        const result = await cache.delete(key);
        return result.l2 && result.published;
      };
      const results = await Promise.all([
        ...affected.profiles.map((id) => drop(caches.profile, keys.profile(id))),
        ...affected.statuses.map((id) => drop(caches.status, keys.status(id))),
        versions.bump(affected.lists),
        (async () => {
          if (affected.counts.length === 0) return true;
          const tagged = await tags.take(affected.counts.map((d) => keys.deptTag(d)));
          const dropped = await Promise.all(tagged.keys.map((key) => drop(caches.aggregate, key)));
          return tagged.ok && dropped.every(Boolean);
        })(),
      ]);
      return {
        ok: results.every(Boolean),
        deleted,
        bumped: affected.lists,
        durMs: performance.now() - started,
      };
    },
  };
}
