import { describe, expect, it } from 'vitest';
import {
  allByteValues,
  assertSameBytes,
  type CacheStoreCapabilities,
  type ConformantStore,
  describeCacheStore,
  eventually,
  patternedBytes,
  utf8,
} from '../src/index.ts';

/**
 * The smallest store that keeps the contract: a Map in this process, expiry on an injectable
 * clock. It shows the suite can be passed (and is what a store's factory looks like); the
 * lessons' real stores (memory, Redis, two-level, PostgreSQL) run the same suite in lesson 06.
 */
const MAX_VALUE_BYTES = 8 * 1024 * 1024;
const capabilities: CacheStoreCapabilities = {
  sharedAcrossProcesses: false,
  survivesRestart: false,
  maxValueBytes: MAX_VALUE_BYTES,
  ttlResolutionMs: 1,
};

function createMapStore(now: () => number): ConformantStore {
  const entries = new Map<string, { value: Uint8Array; expiresAt: number }>();
  return {
    name: 'map',
    capabilities,
    async get(key) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expiresAt < now()) {
        entries.delete(key);
        return undefined;
      }
      return entry.value;
    },
    async set(key, value, { ttlMs }) {
      if (!(value instanceof Uint8Array)) throw new TypeError('values are bytes');
      if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new TypeError('bad ttlMs');
      if (value.byteLength > MAX_VALUE_BYTES) {
        entries.delete(key);
        return;
      }
      entries.set(key, { value: Uint8Array.from(value), expiresAt: now() + ttlMs });
    },
    async delete(key) {
      entries.delete(key);
    },
    async clear() {
      entries.clear();
    },
  };
}

let clock = 1_000_000;
describeCacheStore(
  'a Map with an injected clock',
  () => ({
    store: createMapStore(() => clock),
    advanceClock: (ms) => {
      clock += ms;
    },
  }),
  capabilities,
);

describe('the suite’s helpers', () => {
  it('describes the first differing byte instead of printing megabytes', () => {
    const stored = patternedBytes(1_000_000);
    const got = Uint8Array.from(stored);
    got[123_456] = (got[123_456] as number) ^ 0xff;
    expect(() => assertSameBytes(got, stored, 'a big value')).toThrow(/first at byte 123456 of 1000000/);
  });

  it('says so when a store answers a string instead of bytes', () => {
    expect(() => assertSameBytes('\\x00ff', allByteValues(), 'binary')).toThrow(/not bytes.*bytea/);
  });

  it('says so when a value was cut short', () => {
    expect(() => assertSameBytes(utf8('abc'), utf8('abcdef'), 'v')).toThrow(/3 bytes back, 6 were stored.*cut short/);
  });

  it('eventually returns the first accepted value, or the last one read after the deadline', async () => {
    let n = 0;
    expect(
      await eventually(
        async () => ++n,
        (v) => v === 3,
      ),
    ).toBe(3);
    expect(
      await eventually(
        async () => 'never',
        (v) => v === 'done',
        50,
      ),
    ).toBe('never');
  });
});
