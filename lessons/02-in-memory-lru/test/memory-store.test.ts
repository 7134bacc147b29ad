import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../src/memory-store.ts';

const bytes = (n: number, fill = 'a') => Buffer.from(fill.repeat(n));

describe('createMemoryStore', () => {
  it('returns what was set, with the time it was stored', () => {
    let now = 1_000;
    const store = createMemoryStore({ maxBytes: 1_000, ttlMs: 60_000, now: () => now });
    store.set('k', Buffer.from('{"a":1}'));
    now += 5;
    const hit = store.get('k');
    expect(hit?.body.toString()).toBe('{"a":1}');
    expect(hit?.storedAtMs).toBe(1_000);
    expect(store.get('missing')).toBeUndefined();
  });

  it('counts body bytes plus key length', () => {
    const store = createMemoryStore({ maxBytes: 1_000, ttlMs: 60_000 });
    store.set('key', bytes(100));
    store.set('k2', bytes(50));
    expect(store.entries).toBe(2);
    expect(store.bytes).toBe(103 + 52);
    store.set('key', bytes(10)); // replacing an entry replaces its size
    expect(store.bytes).toBe(13 + 52);
  });

  it('keeps the total under maxBytes by evicting the least recently used entries', () => {
    const store = createMemoryStore({ maxBytes: 1_000, ttlMs: 60_000 });
    for (let i = 0; i < 5; i++) store.set(`k${i}`, bytes(298)); // 300 bytes each with the key
    expect(store.bytes).toBeLessThanOrEqual(1_000);
    expect(store.entries).toBe(3);
    expect(store.get('k0')).toBeUndefined();
    expect(store.get('k1')).toBeUndefined();
    expect(store.get('k4')).toBeDefined();
  });

  it('evicts the entry read least recently, not the one stored first', () => {
    const store = createMemoryStore({ maxBytes: 1_000, ttlMs: 60_000 });
    store.set('k0', bytes(298));
    store.set('k1', bytes(298));
    store.set('k2', bytes(298));
    store.get('k0'); // k0 is now the most recently used
    store.set('k3', bytes(298));
    expect(store.get('k0'), 'k0 was read just before: it should have stayed').toBeDefined();
    expect(store.get('k1'), 'k1 was the least recently used: it should have gone').toBeUndefined();
  });

  it('does not store a value larger than maxBytes, and keeps the others', () => {
    const store = createMemoryStore({ maxBytes: 1_000, ttlMs: 60_000 });
    store.set('small', bytes(10));
    store.set('huge', bytes(2_000));
    expect(store.get('huge')).toBeUndefined();
    expect(store.get('small')).toBeDefined();
    expect(store.bytes).toBe(15);
  });

  it('drops the old entry when a too-large value replaces it (the old one is out of date)', () => {
    const store = createMemoryStore({ maxBytes: 1_000, ttlMs: 60_000 });
    store.set('k', bytes(10));
    store.set('k', bytes(2_000));
    expect(store.get('k')).toBeUndefined();
  });

  it('bounds the number of entries when maxEntries is given', () => {
    const store = createMemoryStore({ maxBytes: 1_000_000, maxEntries: 2, ttlMs: 60_000 });
    store.set('a', bytes(1));
    store.set('b', bytes(1));
    store.set('c', bytes(1));
    expect(store.entries).toBe(2);
    expect(store.get('a')).toBeUndefined();
  });

  it('expires entries after ttlMs on the injected clock, even one starting at 0', () => {
    let now = 0;
    const store = createMemoryStore({ maxBytes: 1_000, ttlMs: 1_000, now: () => now });
    store.set('k', bytes(10));
    now = 1_000;
    expect(store.get('k'), 'an entry exactly ttlMs old is still fresh').toBeDefined();
    now = 1_001;
    expect(store.get('k'), 'an entry older than ttlMs has expired').toBeUndefined();
    expect(store.entries).toBe(0);
  });

  it('does not extend the TTL on reads', () => {
    let now = 10_000;
    const store = createMemoryStore({ maxBytes: 1_000, ttlMs: 1_000, now: () => now });
    store.set('k', bytes(10));
    for (let i = 0; i < 5; i++) {
      now += 200;
      store.get('k');
    }
    now += 1;
    expect(store.get('k')).toBeUndefined();
  });

  it('accepts a TTL per entry', () => {
    let now = 10_000;
    const store = createMemoryStore({ maxBytes: 1_000, ttlMs: 1_000, now: () => now });
    store.set('short', bytes(1), 100);
    store.set('default', bytes(1));
    now += 101;
    expect(store.get('short')).toBeUndefined();
    expect(store.get('default')).toBeDefined();
  });

  it('deletes and clears', () => {
    const store = createMemoryStore({ maxBytes: 1_000, ttlMs: 60_000 });
    store.set('a', bytes(1));
    store.set('b', bytes(1));
    expect(store.delete('a')).toBe(true);
    expect(store.delete('a')).toBe(false);
    store.clear();
    expect(store.entries).toBe(0);
    expect(store.bytes).toBe(0);
  });

  it('keeps two stores apart: one process cache is not another', () => {
    const one = createMemoryStore({ maxBytes: 1_000, ttlMs: 60_000 });
    const two = createMemoryStore({ maxBytes: 1_000, ttlMs: 60_000 });
    one.set('k', bytes(1));
    expect(two.get('k')).toBeUndefined();
  });

  it.each([
    ['maxBytes is missing', { ttlMs: 1_000 }, /`maxBytes` must be a positive whole number/],
    ['maxBytes is 0', { maxBytes: 0, ttlMs: 1_000 }, /`maxBytes`/],
    ['maxBytes is Infinity', { maxBytes: Number.POSITIVE_INFINITY, ttlMs: 1_000 }, /`maxBytes`/],
    ['maxBytes is a string', { maxBytes: '64mb', ttlMs: 1_000 }, /`maxBytes`/],
    ['ttlMs is missing', { maxBytes: 1_000 }, /`ttlMs` must be a positive whole number/],
    ['ttlMs is negative', { maxBytes: 1_000, ttlMs: -1 }, /`ttlMs`/],
    ['ttlMs is fractional', { maxBytes: 1_000, ttlMs: 1.5 }, /`ttlMs`/],
    ['maxEntries is 0', { maxBytes: 1_000, ttlMs: 1_000, maxEntries: 0 }, /`maxEntries`/],
    ['now is not a function', { maxBytes: 1_000, ttlMs: 1_000, now: 5 }, /`now` must be a function/],
  ])('throws a TypeError naming the option when %s', (_what, options, message) => {
    const create = () => createMemoryStore(options as never);
    expect(create).toThrow(TypeError);
    expect(create).toThrow(message);
  });

  it('throws a TypeError for a bad per-entry TTL', () => {
    const store = createMemoryStore({ maxBytes: 1_000, ttlMs: 1_000 });
    expect(() => store.set('k', bytes(1), 0)).toThrow(/`ttlMs`/);
  });
});
