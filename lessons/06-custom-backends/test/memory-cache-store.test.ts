import type { ConformantStore } from '@cachelab/testkit';
import { describeCacheStore } from '@cachelab/testkit';
import { describe, expect, it } from 'vitest';
import type { CacheStore } from '../src/cache-store.ts';
import { createMemoryCacheStore, KEY_ALLOWANCE_BYTES, memoryCapabilities } from '../src/memory-cache-store.ts';

// The suite's own statement of the contract and lesson 06's interface must agree: this line
// stops compiling the day they drift apart.
const _sameContract: ConformantStore = {} as CacheStore;
void _sameContract;

const MAX_BYTES = 8 * 1024 * 1024; // small enough that the suite also checks the "too large" rule

// Every instance has its own clock, as every process does; the suite moves it to expire entries.
describeCacheStore(
  'memory (lesson 02 behind the interface)',
  () => {
    let now = 1_000_000;
    return {
      store: createMemoryCacheStore({ maxBytes: MAX_BYTES, now: () => now }),
      advanceClock: (ms) => {
        now += ms;
      },
    };
  },
  memoryCapabilities(MAX_BYTES),
);

describe('the memory store, beyond the contract', () => {
  it('evicts the least recently used entries when maxBytes is full, as lesson 02 does', async () => {
    const store = createMemoryCacheStore({ maxBytes: 4_096 });
    const value = new Uint8Array(1_000);
    for (const key of ['a', 'b', 'c', 'd']) await store.set(key, value, { ttlMs: 60_000 });
    await store.get('a'); // a is now the most recently used
    await store.set('e', value, { ttlMs: 60_000 });
    expect(await store.get('a'), 'the entry read last should have stayed').toBeDefined();
    expect(await store.get('b'), 'the least recently used entry should have gone').toBeUndefined();
  });

  it('promises values up to maxBytes minus room for the key', () => {
    expect(memoryCapabilities(MAX_BYTES).maxValueBytes).toBe(MAX_BYTES - KEY_ALLOWANCE_BYTES);
  });

  it('refuses a maxBytes with no room for a key, naming the option', () => {
    expect(() => createMemoryCacheStore({ maxBytes: 100 })).toThrow(/`maxBytes` must be a whole number above 1024/);
  });
});
