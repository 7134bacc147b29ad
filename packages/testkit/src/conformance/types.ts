/**
 * The contract the conformance suite checks. Lesson 06 (`lessons/06-custom-backends/src/cache-store.ts`)
 * defines the `CacheStore` interface and explains it; packages never import lessons, so the
 * suite states here, structurally, what it calls. TypeScript checks that the two agree wherever
 * a store is handed to `describeCacheStore`.
 */

/** What a store can do. The suite reads these to decide which checks apply: flags, not skips. */
export interface CacheStoreCapabilities {
  /** Two instances over one namespace see each other's sets, deletes and clears. */
  sharedAcrossProcesses: boolean;
  /** Entries are still there after the store is closed and opened again. */
  survivesRestart: boolean;
  /** Values up to this many bytes are stored; larger ones are refused quietly. */
  maxValueBytes: number;
  /** TTLs are rounded up to a multiple of this many ms (1: millisecond precision). */
  ttlResolutionMs: number;
}

/** A cache store as the suite sees it: async, bytes in and out, one namespace per instance. */
export interface ConformantStore {
  readonly name: string;
  readonly capabilities: CacheStoreCapabilities;
  get(key: string): Promise<Uint8Array | undefined>;
  set(key: string, value: Uint8Array, options: { ttlMs: number }): Promise<void>;
  delete(key: string): Promise<unknown>;
  clear(): Promise<void>;
  close?(): Promise<void>;
}

/** One instance of the store under test, as one process of an app would hold it. */
export interface StoreInstance {
  store: ConformantStore;
  /**
   * Move this store's clock forward by `ms` (in-process stores with an injectable clock).
   * When given, TTL checks use it instead of sleeping. It must move the clock of *everything*
   * that decides expiry for this store.
   */
  advanceClock?(ms: number): void;
  /**
   * Make every entry of this instance's namespace `ms` older, for a store whose clock is its
   * backend's and cannot be moved (PostgreSQL's `now()`): e.g. move each row's `expires_at` back
   * by `ms`. When given (and there is no `advanceClock`), the TTL checks use it instead of
   * sleeping. Real time passes too while the test runs: the suite allows 10 s for that.
   */
  ageEntries?(ms: number): Promise<void>;
  /**
   * Hold the backend's writes (PostgreSQL: testkit's `holdTable`) until `release()`. When given,
   * the concurrency check starts two sets of one new key, waits until both wait at their write
   * (`blocked(2)`: each has looked, if it looks, before the other wrote), starts the other 48,
   * then lets them all go: the race of two instances filling the same missing entry, made exact
   * instead of left to timing. `blocked` may need a connection of its own. Without
   * it the sets interleave as the event loop runs them, which is fixed for an in-process store or
   * one connection that runs commands in order, but not for a pool of connections.
   */
  holdWrites?(): Promise<{ blocked(waiting?: number): Promise<void>; release(): Promise<void> }>;
  /**
   * How many ms the backend will keep `key` (Redis PTTL, `expires_at − now()`), undefined when
   * it has no such entry. When given, the suite checks that the TTL reached the backend, bounded
   * from both sides: at most the TTL asked for (rounded up to `ttlResolutionMs`), at least that
   * TTL minus the time the test measured from before the set to after this answer.
   */
  remainingTtlMs?(key: string): Promise<number | undefined>;
  /** Release what this instance holds (connections, subscriptions), like a process exiting. Default `store.close()`. */
  close?(): Promise<void> | void;
}

/**
 * Make one instance over `namespace`. Called several times per test: twice with the same
 * namespace for "a second process", and with other namespaces for isolation checks.
 * `namespace` is unique within this test file only: **put your file's own prefix in front of it**
 * (`useServices().prefix`), so that test files running at once on one Redis or one table never
 * meet.
 */
export type StoreFactory = (context: { namespace: string }) => StoreInstance | Promise<StoreInstance>;
