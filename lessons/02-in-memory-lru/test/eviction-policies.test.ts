import { zipfSequence } from '@cachelab/bench/zipf';
import { describe, expect, it } from 'vitest';
import { createPolicyCache, POLICIES, replay, withSweep } from '../src/eviction-policies.ts';
import { LfuCache } from '../src/lfu-cache.ts';

/**
 * Step 3's claims, on the bench's own Zipf sequence (the one measure-policies.ts replays).
 * Hit ratios are counts of this run, deterministic but for W-TinyLFU's 1-in-1,000 random
 * admission, so every comparison leaves a margin of several points.
 */

describe('LfuCache', () => {
  it('evicts the entry read the fewest times', () => {
    const lfu = new LfuCache<string, number>(2);
    lfu.set('a', 1);
    lfu.set('b', 2);
    lfu.get('a');
    lfu.get('a');
    lfu.get('b');
    lfu.set('c', 3); // b was read once, a twice: b goes
    expect(lfu.has('a'), 'the entry read most often was evicted').toBe(true);
    expect(lfu.has('b'), 'the entry read least often should be the one evicted').toBe(false);
    expect(lfu.get('c')).toBe(3);
    expect(lfu.count('a')).toBe(3);
  });

  it('among entries read equally often, evicts the least recently used', () => {
    const lfu = new LfuCache<string, number>(3);
    lfu.set('a', 1);
    lfu.set('b', 2);
    lfu.set('c', 3);
    lfu.get('b');
    lfu.get('a'); // a and b: count 2, b read before a; c: count 1
    lfu.set('d', 4); // c goes (count 1)
    lfu.get('d'); // now a, b, d all have count 2; b is the least recently used of them
    lfu.set('e', 5);
    expect([...['a', 'b', 'c', 'd', 'e']].filter((k) => lfu.has(k))).toEqual(['a', 'd', 'e']);
  });

  it('never holds more than max, also after deletes, and refuses a max that is not a count', () => {
    const lfu = new LfuCache<number, number>(10);
    for (let i = 0; i < 1_000; i++) {
      lfu.set(i % 37, i);
      if (i % 7 === 0) lfu.get(i % 11);
      if (i % 13 === 0) lfu.delete((i * 3) % 37);
      expect(lfu.size).toBeLessThanOrEqual(10);
    }
    expect(() => new LfuCache(0)).toThrow(/max must be a whole number of entries ≥ 1/);
    expect(() => new LfuCache(1.5)).toThrow(TypeError);
  });
});

describe('the three policies on the bench’s Zipf traffic', () => {
  const traffic = zipfSequence({ keys: 10_000, count: 200_000, s: 1, seed: 42 });

  it.each(POLICIES)('%s never holds more entries than its size', (policy) => {
    for (const size of [100, 1_000]) {
      expect(replay(createPolicyCache(policy, size), traffic.slice(0, 50_000)).maxSize).toBeLessThanOrEqual(size);
    }
  });

  it('a small cache (1% of the keys): LFU and W-TinyLFU hit at least 5 points more often than LRU', () => {
    const [lru, lfu, tiny] = POLICIES.map((p) => replay(createPolicyCache(p, 100), traffic).hitPct) as number[];
    expect(lfu, 'LFU should beat LRU on a steady Zipf').toBeGreaterThan((lru as number) + 5);
    expect(tiny, 'W-TinyLFU should beat LRU on a steady Zipf').toBeGreaterThan((lru as number) + 5);
  });

  it('a one-off sweep of every key: LRU loses its hot keys, LFU none, W-TinyLFU almost none', () => {
    const sweep = Array.from({ length: 10_000 }, (_, i) => i + 1);
    const swept = withSweep(traffic, 100_000, sweep);
    const drop = Object.fromEntries(
      POLICIES.map((p) => {
        const without = replay(createPolicyCache(p, 1_000), traffic, 100_000, 101_000).hitPct;
        const after = replay(createPolicyCache(p, 1_000), swept, 110_000, 111_000).hitPct;
        return [p, without - after];
      }),
    );
    expect(drop.LRU, 'the sweep should push LRU’s hot keys out').toBeGreaterThan(6);
    expect(drop.LFU, 'LFU never evicts a hot key for a key seen once').toBe(0);
    expect(drop['W-TinyLFU'], 'the sketch should keep the swept keys out of the main part').toBeLessThan(4);
  });

  it('popularity moves: LFU clings to the old hot keys, W-TinyLFU catches up with LRU', () => {
    const moved = [...traffic.slice(0, 100_000), ...zipfSequence({ keys: 10_000, count: 100_000, s: 1, seed: 7 })];
    const [lru, lfu, tiny] = POLICIES.map(
      (p) => replay(createPolicyCache(p, 1_000), moved, 100_000).hitPct,
    ) as number[];
    expect(lfu, 'LFU’s counts never fade, so the old hot keys stay').toBeLessThan((lru as number) - 15);
    expect(tiny, 'the halved sketch lets W-TinyLFU follow the new hot keys').toBeGreaterThan((lru as number) - 2);
  });
});
