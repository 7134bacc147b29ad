import { describe, expect, it } from 'vitest';
import { createSingleFlight } from '../src/single-flight.ts';

/** A promise the test settles by hand: the load "takes" exactly as long as the test says. */
function gate<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('single-flight', () => {
  it('runs the loader once for 1,000 concurrent callers of one key, and gives each the same value', async () => {
    const flights = createSingleFlight();
    const db = gate<string>();
    let calls = 0;
    const callers = Array.from({ length: 1000 }, () =>
      flights.run('k', () => {
        calls++;
        return db.promise;
      }),
    );
    expect(flights.size).toBe(1);
    db.resolve('value');
    expect(await Promise.all(callers)).toEqual(Array(1000).fill('value'));
    expect(calls).toBe(1);
  });

  it('hands the error to every waiter and keeps nothing: the next call loads again', async () => {
    const flights = createSingleFlight();
    const db = gate<string>();
    const callers = Array.from({ length: 10 }, () => flights.run('k', () => db.promise));
    db.reject(new Error('connection refused'));
    const outcomes = await Promise.allSettled(callers);
    expect(outcomes.every((o) => o.status === 'rejected' && o.reason.message === 'connection refused')).toBe(true);
    expect(flights.size, 'a failed flight stayed in the map').toBe(0);
    let calls = 0;
    expect(await flights.run('k', async () => `loaded ${++calls}`)).toBe('loaded 1');
  });

  it('shares a synchronous throw like any other failure', async () => {
    const flights = createSingleFlight();
    const failing = () => {
      throw new Error('bad');
    };
    await expect(flights.run('k', failing)).rejects.toThrow('bad');
    expect(flights.size).toBe(0);
  });

  it('removes a flight once it has settled, so a later call loads a new value', async () => {
    const flights = createSingleFlight();
    let version = 0;
    expect(await flights.run('k', async () => ++version)).toBe(1);
    expect(flights.size).toBe(0);
    expect(await flights.run('k', async () => ++version)).toBe(2);
  });

  it('never makes one key wait for another', async () => {
    const flights = createSingleFlight();
    const slow = gate<string>();
    const a = flights.run('a', () => slow.promise);
    expect(await flights.run('b', async () => 'b')).toBe('b');
    slow.resolve('a');
    expect(await a).toBe('a');
  });

  it('says which caller led, and after forget() starts a new flight without the old one removing it', async () => {
    const flights = createSingleFlight();
    const old = gate<string>();
    const first = flights.join('k', () => old.promise);
    const second = flights.join('k', async () => 'unused');
    expect([first.leader, second.leader]).toEqual([true, false]);
    flights.forget('k');
    const fresh = gate<string>();
    const third = flights.join('k', () => fresh.promise);
    expect(third.leader).toBe(true);
    old.resolve('old');
    await first.promise;
    expect(flights.size, "the old flight's clean-up removed the new flight").toBe(1);
    expect(flights.join('k', async () => 'unused').promise).toBe(third.promise);
    fresh.resolve('new');
    expect(await third.promise).toBe('new');
  });
});
