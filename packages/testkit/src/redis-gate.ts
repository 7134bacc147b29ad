import type { Redis } from 'ioredis';

/** A promise the test settles by hand. */
export interface Gate {
  promise: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * Hold the first command of `redis` that writes `key` (SET, or a guard's EVAL/EVALSHA) until
 * `release()`; `reached` resolves when that command is issued, i.e. after the load it stores.
 * Forces the stale-set race without a sleep: a GET misses and loads the old row, the test
 * holds its store while a write commits and invalidates, then lets the store go.
 *
 * Auto-pipelining is turned off for this client: with it, the client sends its next batch only
 * once the last is answered, so holding the store would hold a later DEL behind it and the
 * test would wait for itself.
 */
export function holdTheStoreOf(redis: Redis, key: string): { reached: Promise<void>; release(): void } {
  const reached = gate();
  const release = gate();
  let armed = true;
  redis.options.enableAutoPipelining = false;
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string; args: unknown[] }, ...rest: unknown[]) => {
    const writes = command.name === 'set' || command.name === 'eval' || command.name === 'evalsha';
    if (armed && writes && command.args.some((a) => String(a) === key)) {
      armed = false;
      reached.open();
      return release.promise.then(() => (send as (...args: unknown[]) => unknown)(command, ...rest));
    }
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof redis.sendCommand;
  return { reached: reached.promise, release: release.open };
}
