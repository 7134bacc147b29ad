import { describe, expect, it } from 'vitest';
import { createSwrCache } from '../src/swr-cache.ts';

/**
 * The stretch goal of exercise 11 (README): refresh a fresh entry in the background before it
 * goes stale, when `now − delta·β·ln(random()) ≥ expiry` (XFetch, lesson 08's early-refresh.ts),
 * `delta` being how long the last load took. The tests pass `random` and `beta` in the options,
 * and their loads take time on the `now` clock (each moves it forward), so delta is known.
 * (`npx cachelab verify 11 --stretch`)
 */
const FRESH_MS = 60_000;
const GRACE_MS = 30_000;

/** A cache on a test clock; each load moves the clock `loadMs` forward and returns { load: n }. */
function setup(roll: number, loadMs: number) {
  const t = { now: 0, loads: 0, gate: undefined as Promise<void> | undefined };
  const options = { freshMs: FRESH_MS, graceMs: GRACE_MS, now: () => t.now, random: () => roll, beta: 1 };
  const cache = createSwrCache(options);
  const load = async () => {
    t.loads += 1;
    const n = t.loads;
    t.now += loadMs;
    if (t.gate) await t.gate;
    return { load: n };
  };
  const get = async () => {
    const { body, cache: outcome } = await cache.get('employee:7', load);
    return { outcome, load: (JSON.parse(body.toString()) as { load: number }).load };
  };
  return { t, get };
}
/** Let a background refresh that needs nothing but microtasks and a turn of the event loop finish. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('early refresh (XFetch) of fresh entries', () => {
  it('refreshes in the background once now + delta·β·(−ln random()) reaches the expiry, serving the fresh value meanwhile', async () => {
    const { t, get } = setup(Math.exp(-5), 1_000); // loads take 1 s: a head start of 5 s
    expect((await get()).outcome).toBe('MISS'); // stored at 1 s: fresh until 61 s
    t.now = 50_000; // 50 s + 5 s < 61 s: too early
    expect(await get(), 'at 50 s').toEqual({ outcome: 'HIT', load: 1 });
    await settle();
    expect(
      t.loads,
      'at 50 s, 11 s before the entry goes stale, with a head start of 5 s (a last load of 1 s, random() = e^-5), a refresh started: too early',
    ).toBe(1);
    t.now = 56_500; // 56.5 s + 5 s ≥ 61 s
    const read = await get();
    expect(
      read,
      'at 56.5 s the entry is still fresh: the reader gets it at once, as a HIT, while the refresh runs',
    ).toEqual({ outcome: 'HIT', load: 1 });
    await settle();
    expect(
      t.loads,
      'at 56.5 s, 4.5 s before the entry goes stale, with a head start of 5 s (a last load of 1 s, random() = e^-5), no refresh started: refresh in the background when now − delta·β·ln(random()) ≥ expiry, delta being how long the last load took on the `now` clock',
    ).toBe(2);
    expect(await get(), 'after the early refresh').toEqual({ outcome: 'HIT', load: 2 });
  });

  it('gives a slow load a longer head start, and a roll near 1 none', async () => {
    const slow = setup(Math.exp(-1), 10_000); // loads take 10 s: a head start of 10 s
    await slow.get(); // stored at 10 s: fresh until 70 s
    slow.t.now = 61_000;
    await slow.get();
    await settle();
    expect(
      slow.t.loads,
      'at 61 s, 9 s before the entry goes stale, with a last load of 10 s and random() = e^-1 (a head start of 10 s), no refresh started: the head start is delta·β·(−ln random()), so a slow load starts earlier',
    ).toBe(2);

    const lucky = setup(0.999_999, 1_000); // a head start of about 1 µs
    await lucky.get();
    lucky.t.now = 60_900;
    expect(await lucky.get()).toEqual({ outcome: 'HIT', load: 1 });
    await settle();
    expect(
      lucky.t.loads,
      'at 60.9 s, 0.1 s before the entry goes stale, random() = 0.999999 gives a head start of about a microsecond, yet a refresh started: roll the die, do not refresh every read near the end',
    ).toBe(1);
  });

  it('runs one early refresh per key however many readers win the roll meanwhile', async () => {
    const { t, get } = setup(Math.exp(-5), 1_000);
    await get();
    t.now = 58_000;
    let open: () => void = () => {};
    t.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    for (let i = 0; i < 5; i++)
      expect(await get(), `read ${i + 1} while the refresh runs`).toEqual({ outcome: 'HIT', load: 1 });
    await settle();
    expect(t.loads, 'at 58 s, within the head start of 5 s, no early refresh started').toBeGreaterThanOrEqual(2);
    expect(
      t.loads,
      'five readers in the window while one early refresh was still running each started a refresh: one per key at a time',
    ).toBe(2);
    t.gate = undefined;
    open();
    await settle();
  });
});
