import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';

/**
 * Every Redis key (and pub/sub channel) of the employee directory, in one place. All of
 * them come from lesson 02's `cacheKey()`: nobody concatenates keys by hand. Invalidation
 * is only as good as the writer's ability to name every key a change affects, so the
 * names live next to each other, where a reader can check that nothing is forgotten.
 *
 *   employee-profile:v1:id=42                              name, email, department, updated_at
 *   employee-status:v1:id=42                               status, status_updated_at
 *   dept-version:v1:dept=Sales                             a counter: INCR on every write to Sales' list
 *   dept-employees:v1:dept=Sales&dept_version=…&page=2     one page of Sales' list, at that version
 *   dept-summary:v1:dept=Sales                             in/out counts of Sales    (tagged dept=Sales)
 *   departments:v1                                         counts of every department (tagged with each one)
 *   tag:v1:dept=Sales                                      a Redis set: the keys tagged dept=Sales
 *
 * `v1` is the version of the cached value's *shape* (lesson 02); the department's *data*
 * version is a parameter of the list keys, `dept_version`.
 */
export interface DirectoryKeys {
  profile(id: number): string;
  status(id: number): string;
  /** The counter whose value is part of every list key of `dept`. */
  deptVersion(dept: string): string;
  /** One page of `dept`'s list, as of `deptVersion`. */
  deptPage(dept: string, deptVersion: number, page: number): string;
  deptSummary(dept: string): string;
  overview(): string;
  /** The Redis set holding the keys tagged `dept=<dept>`. */
  deptTag(dept: string): string;
  /** The pub/sub channel of one kind's L1 invalidations (lesson 04's bus). */
  channel(kind: string): string;
}

export function directoryKeys(prefix: string): DirectoryKeys {
  return {
    profile: (id) => cacheKey({ prefix, name: 'employee-profile', params: { id } }),
    status: (id) => cacheKey({ prefix, name: 'employee-status', params: { id } }),
    deptVersion: (dept) => cacheKey({ prefix, name: 'dept-version', params: { dept } }),
    deptPage: (dept, deptVersion, page) =>
      cacheKey({ prefix, name: 'dept-employees', params: { dept, dept_version: deptVersion, page } }),
    deptSummary: (dept) => cacheKey({ prefix, name: 'dept-summary', params: { dept } }),
    overview: () => cacheKey({ prefix, name: 'departments' }),
    deptTag: (dept) => cacheKey({ prefix, name: 'tag', params: { dept } }),
    // Channels are not keys: a key prefix does not namespace them, so the prefix is in the name.
    channel: (kind) => cacheKey({ prefix, name: 'l1-invalidation', params: { kind } }),
  };
}
