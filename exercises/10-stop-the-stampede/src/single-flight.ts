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
  // TODO: remember the promise of the load in progress for each key, so that callers for
  // the same key share it. Once it settles (value or error), the next caller must load again.
  return {
    run(_key, load) {
      return load();
    },
  };
}
