/**
 * Single-flight: at most one call of a loader per key in this process at a time. The first
 * caller for a key runs the loader; every caller that arrives while it runs gets the SAME
 * promise, so a thousand requests for a cold key make one database query, not a thousand.
 *
 * Three rules make it correct, and each one is a classic bug when it is missing:
 *
 * 1. **The entry is removed when the promise settles** (resolved *or* rejected). A flight
 *    is "a load in progress", not a cache: the value lives in the cache, and a flight left
 *    in the map would hand its old result to the next caller forever, even after the cache
 *    entry has expired.
 * 2. **An error reaches every waiter and is not kept.** All callers that shared the flight
 *    see the rejection (they asked during the failed load); the next caller starts a new
 *    load. Keeping the rejected promise would turn one failed query into an outage.
 * 3. **One flight per key, not one lock for all keys.** Callers of other keys never wait.
 *
 * Like Go's `golang.org/x/sync/singleflight`, and the in-process part of bentocache's and
 * lru-cache's (`fetchMethod`) stampede protection. It deduplicates within one process only:
 * three instances make three loads; the lease in lease.ts makes it one across instances.
 */
export interface SingleFlight {
  /**
   * Run `fn` for `key`, unless a call for `key` is already in flight: then return that
   * call's promise (its value, or its rejection).
   */
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Like `run`, and says whether this caller's `fn` is the one that ran (for Server-Timing:
   * the leader spent its time in the database, the others waited).
   */
  join<T>(key: string, fn: () => Promise<T>): { promise: Promise<T>; leader: boolean };
  /**
   * Stop handing out the flight in progress for `key`: the next caller starts a new one.
   * Call it when `key` is invalidated, so that a request arriving after a write does not
   * join a load that started before it (and would bring back the old value).
   */
  forget(key: string): void;
  /** Flights in progress now (a finished flight is never counted). */
  readonly size: number;
}

export function createSingleFlight(): SingleFlight {
  const flights = new Map<string, Promise<unknown>>();

  function join<T>(key: string, fn: () => Promise<T>): { promise: Promise<T>; leader: boolean } {
    const current = flights.get(key) as Promise<T> | undefined;
    if (current) return { promise: current, leader: false };
    // Promise.resolve().then(fn): a loader that throws synchronously becomes a rejection
    // shared by every caller, like any other failure, instead of escaping from run().
    const promise = Promise.resolve()
      .then(fn)
      .finally(() => {
        // Only our own entry: after forget(key), a newer flight may own the key.
        if (flights.get(key) === promise) flights.delete(key);
      });
    flights.set(key, promise);
    return { promise, leader: true };
  }

  return {
    join,
    run: (key, fn) => join(key, fn).promise,
    forget(key) {
      flights.delete(key);
    },
    get size() {
      return flights.size;
    },
  };
}
