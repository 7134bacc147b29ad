/**
 * Single-flight: at most one load per key at a time in this process. While a load for a
 * key runs, every other caller for that key should get the same promise instead of
 * starting its own load.
 *
 * `run(key, load)` resolves (or rejects) with what `load()` resolves (or rejects) with.
 */
export interface SingleFlight {
  run<T>(key: string, load: () => Promise<T>): Promise<T>;
}

export function createSingleFlight(): SingleFlight {
  // One promise per key, only while its load runs: a Map of loads in progress, not a cache.
  // Per key, so that a slow load of one key never holds back requests for another.
  const inFlight = new Map<string, Promise<unknown>>();
  return {
    run<T>(key: string, load: () => Promise<T>): Promise<T> {
      const current = inFlight.get(key);
      // Somebody is loading this key: wait for their result (or their error) instead of
      // sending the same query again.
      if (current) return current as Promise<T>;
      // finally() runs on success AND on failure: the entry is gone as soon as the load has
      // settled. Kept after success, it would hand the old value to requests after the cache
      // entry expired; kept after failure, it would answer every later request with that
      // error without ever asking the database again. The callers who waited still all
      // receive the value or the error, because they hold the promise itself.
      const promise = load().finally(() => inFlight.delete(key));
      inFlight.set(key, promise);
      return promise;
    },
  };
}
