import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, assert, beforeEach, describe, expect, it } from 'vitest';
import { allByteValues, assertSameBytes, patternedBytes, utf8 } from './bytes.ts';
import type { CacheStoreCapabilities, ConformantStore, StoreFactory, StoreInstance } from './types.ts';

const MiB = 1024 * 1024;
/** The "large value" every store must take (when its maxValueBytes allows): 5 MiB. */
export const LARGE_VALUE_BYTES = 5 * MiB;
/**
 * A value just over maxValueBytes is sent only up to this size (PostgreSQL's 64 MiB is checked,
 * Redis's 512 MiB is not). A store that refuses it sends nothing; only one that wrongly sends it
 * pays for the transfer.
 */
const OVERSIZE_CHECK_LIMIT = 64 * MiB;
/** TTLs long enough never to expire during a test. */
const LONG_TTL_MS = 60_000;
/**
 * How much real time a test may take while it ages a store's entries (`ageEntries`): an entry
 * is read this long before its TTL runs out and must still be there. A bound no test comes near
 * (a test times out long before), not a speed the suite expects.
 */
const AGEING_MARGIN_MS = 10_000;

/**
 * Poll `read` until `accept` takes its result or `timeoutMs` runs out; returns the last result.
 * For what another instance sees: a shared store may deliver an invalidation a moment later.
 * 10 s, not a speed the suite expects: a right store is seen in milliseconds and returns at
 * once, and on a CI machine at load average 15 a bus message can take a second.
 */
export async function eventually<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!accept(value) && Date.now() < deadline) {
    await sleep(20);
    value = await read();
  }
  return value;
}

/** `ms` rounded up to a multiple of `resolution`. */
const roundUp = (ms: number, resolution: number) => Math.ceil(ms / resolution) * resolution;

/**
 * The conformance suite: every CacheStore must pass it. Call it first in a store's test file,
 * then add that store's own tests:
 *
 * ```ts
 * const services = useServices();
 * describeCacheStore('redis', ({ namespace }) => {
 *   const store = createRedisCacheStore({ redis, namespace: services.prefix + namespace });
 *   return { store, remainingTtlMs: (key) => store.remainingTtlMs(key) };
 * }, REDIS_CAPABILITIES);
 * ```
 *
 * `capabilities` are what the store promises (see CacheStoreCapabilities); the suite checks the
 * store declares exactly those, and adapts to them: a shared store must show a second instance
 * its writes, a private one must not; one that survives a restart must still have its entries
 * after close-and-reopen; values up to maxValueBytes must round-trip; expiry is checked on the
 * injected clock when the factory offers one (`advanceClock`), by ageing the entries when the
 * backend's clock cannot move (`ageEntries`), and the TTL the backend holds (`remainingTtlMs`,
 * e.g. Redis PTTL) is bounded from both sides; never by sleeping until something expires.
 * Concurrent sets of one key meet at their write for sure when the factory can hold the
 * backend's writes (`holdWrites`).
 *
 * Each test gets a fresh namespace (`cs1:`, `cs2:`, … which the factory prefixes with the
 * file's own); afterwards the suite clears and closes every instance it opened. Every failure
 * message says what the store did wrong in words, not only which values differed.
 */
export function describeCacheStore(name: string, factory: StoreFactory, capabilities: CacheStoreCapabilities): void {
  describe(`${name} keeps the CacheStore contract`, () => {
    let testNumber = 0;
    let namespace = '';
    const opened: { instance: StoreInstance; closed: boolean }[] = [];

    beforeEach(() => {
      testNumber += 1;
      namespace = `cs${testNumber}:`;
    });
    afterEach(async () => {
      for (const entry of opened.splice(0).reverse()) {
        if (entry.closed) continue;
        await entry.instance.store.clear().catch(() => {});
        await close(entry.instance).catch(() => {});
      }
    });

    const close = async (instance: StoreInstance) => {
      if (instance.close) await instance.close();
      else await instance.store.close?.();
    };

    /** One instance over `ns` (default: this test's namespace), as one process would hold it. */
    async function open(ns = namespace) {
      const instance = await factory({ namespace: ns });
      const entry = { instance, closed: false };
      opened.push(entry);
      return {
        store: instance.store,
        instance,
        /** Close this instance, like its process exiting. */
        async shutDown() {
          entry.closed = true;
          await close(instance);
        },
      };
    }

    /** Run `fn`; if it throws, fail with `what` and a hint instead of a bare stack trace. */
    async function attempt<T>(what: string, hint: string, fn: () => Promise<T>): Promise<T> {
      try {
        return await fn();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        return assert.fail(`${what} failed: ${message}. ${hint}`);
      }
    }

    const set = (store: ConformantStore, key: string, value: Uint8Array, ttlMs = LONG_TTL_MS) =>
      attempt(`set(${JSON.stringify(key)}, ${value.length} bytes, { ttlMs: ${ttlMs} })`, '', () =>
        store.set(key, value, { ttlMs }),
      );
    const get = (store: ConformantStore, key: string) =>
      attempt(`get(${JSON.stringify(key)})`, '', () => store.get(key));

    it('declares the capabilities it is tested with', async () => {
      const { store } = await open();
      expect(
        store.capabilities,
        `the store's \`capabilities\` differ from the ones it is tested with: declare what the store really does (the suite adapts its checks to them)`,
      ).toEqual(capabilities);
      expect(typeof store.name, 'a store has a short `name` (for logs and Server-Timing)').toBe('string');
    });

    describe('get, set, delete', () => {
      it('answers undefined for a key that was never set', async () => {
        const { store } = await open();
        expect(await get(store, 'never-set'), 'get() of a key nobody set should be undefined (a miss)').toBeUndefined();
      });

      it('returns the bytes that were set', async () => {
        const { store } = await open();
        const value = utf8('{"id":42,"name":"Ada"}');
        await set(store, 'employee:42', value);
        assertSameBytes(await get(store, 'employee:42'), value, 'reading back a value just set');
      });

      it('replaces the value when a key is set again', async () => {
        const { store } = await open();
        await set(store, 'k', utf8('first'));
        await set(store, 'k', utf8('second, and longer than the first'));
        assertSameBytes(
          await get(store, 'k'),
          utf8('second, and longer than the first'),
          'after setting the key again',
        );
        await set(store, 'k', utf8('3rd'));
        assertSameBytes(await get(store, 'k'), utf8('3rd'), 'after setting it a third time, shorter');
      });

      it('keeps keys apart: setting one key does not change another', async () => {
        const { store } = await open();
        await set(store, 'a', utf8('value of a'));
        await set(store, 'b', utf8('value of b'));
        assertSameBytes(await get(store, 'a'), utf8('value of a'), 'key "a" after setting key "b"');
        assertSameBytes(await get(store, 'b'), utf8('value of b'), 'key "b"');
      });

      it('stores an empty value as a value, not as a miss', async () => {
        const { store } = await open();
        await set(store, 'empty', new Uint8Array(0));
        const got = await get(store, 'empty');
        expect(got, 'a 0-byte value came back as undefined: an empty value is still a hit').not.toBeUndefined();
        assertSameBytes(got, new Uint8Array(0), 'the empty value');
      });

      it("keeps its own copy: changing the caller's buffer after set does not change the stored value", async () => {
        const { store } = await open();
        const buffer = utf8('original bytes');
        await set(store, 'copied', buffer);
        buffer.fill(0x21);
        assertSameBytes(
          await get(store, 'copied'),
          utf8('original bytes'),
          "the value read back after the caller reused its buffer (if it changed, the store kept the caller's buffer instead of a copy of the bytes)",
        );
      });

      it('deletes a key, and deleting a key that is not there is not an error', async () => {
        const { store } = await open();
        await set(store, 'gone', utf8('x'));
        await set(store, 'kept', utf8('y'));
        await attempt('delete("gone")', '', () => store.delete('gone'));
        expect(await get(store, 'gone'), 'get() after delete() should be a miss').toBeUndefined();
        assertSameBytes(await get(store, 'kept'), utf8('y'), 'another key after delete("gone")');
        await attempt('delete() of a key that does not exist', 'Deleting a missing key must simply do nothing.', () =>
          store.delete('never-there'),
        );
        await set(store, 'gone', utf8('back'));
        assertSameBytes(await get(store, 'gone'), utf8('back'), 'a deleted key set again');
      });

      it('refuses a value that is not bytes with a TypeError (strings are encoded by the caller)', async () => {
        const { store } = await open();
        await expect(
          store.set('text', 'a string' as unknown as Uint8Array, { ttlMs: LONG_TTL_MS }),
          'set() took a string: values are bytes, and the caller encodes (Buffer.from(text))',
        ).rejects.toThrow(TypeError);
      });
    });

    describe('TTL', () => {
      it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1000'])(
        'refuses ttlMs %s with a TypeError: every entry needs a positive whole number of ms',
        async (ttlMs) => {
          const { store } = await open();
          await expect(
            store.set('k', utf8('v'), { ttlMs: ttlMs as number }),
            `set() accepted ttlMs ${JSON.stringify(ttlMs)}: it should throw a TypeError (a bad TTL is a bug in the caller)`,
          ).rejects.toThrow(TypeError);
        },
      );

      /**
       * How this store's expiry can be observed: its clock moved forward, its entries aged, or
       * (neither given) only the TTL the backend reports. `margin`: how long before its TTL an
       * entry is read and must still be there (on an injected clock, 1 ms: nothing else moves it).
       */
      async function timeline() {
        const { instance, store } = await open();
        if (instance.advanceClock) {
          const advance = instance.advanceClock;
          return {
            store,
            instance,
            how: 'on the injected clock',
            shortTtlMs: 1_000,
            margin: 1,
            async elapse(ms: number) {
              advance(ms);
            },
          };
        }
        if (instance.ageEntries) {
          const age = instance.ageEntries;
          return {
            store,
            instance,
            how: 'with its entries aged',
            shortTtlMs: 2 * AGEING_MARGIN_MS,
            margin: AGEING_MARGIN_MS,
            elapse: (ms: number) =>
              attempt(`ageEntries(${ms})`, 'The factory could not age the entries of this store.', () => age(ms)),
          };
        }
        return { store, instance, how: undefined, shortTtlMs: 0, margin: 0, elapse: async () => {} };
      }

      /**
       * The TTL the backend reports for `key`, set with `askedMs` at or after `since`
       * (performance.now() before the set): at most `askedMs` rounded up to the resolution, at
       * least `askedMs` minus the time measured since then. Both bounds come from what the test
       * measured, not from what it hopes the machine's speed is.
       */
      async function backendTtl(key: string, instance: StoreInstance, askedMs: number, since: number) {
        if (!instance.remainingTtlMs) {
          return assert.fail(
            'This store has no injectable clock, no way to age its entries and the factory offers no remainingTtlMs(key): the suite has no way to check expiry. Offer one of them in the factory (advanceClock, ageEntries or remainingTtlMs).',
          );
        }
        const remaining = await instance.remainingTtlMs(key);
        const elapsed = performance.now() - since;
        const most = roundUp(askedMs, capabilities.ttlResolutionMs);
        expect(remaining, `the backend has no TTL on "${key}" set with ttlMs ${askedMs}`).not.toBeUndefined();
        expect(
          remaining as number,
          `"${key}" was set with ttlMs ${askedMs}, but the backend will keep it ${remaining} ms: longer than asked (rounded up to ${capabilities.ttlResolutionMs} ms at most)`,
        ).toBeLessThanOrEqual(most);
        expect(
          remaining as number,
          `"${key}" was set with ttlMs ${askedMs} ${Math.ceil(elapsed)} ms ago, but the backend will keep it only ${remaining} ms more: shorter than asked (is the TTL cut to whole seconds, or divided?)`,
        ).toBeGreaterThanOrEqual(askedMs - Math.ceil(elapsed) - 1);
        return remaining as number;
      }

      /** set() of `key`, then the TTL the backend reports for it, bounded from both sides. */
      async function setAndCheckTtl(instance: StoreInstance, key: string, value: Uint8Array, ttlMs: number) {
        const since = performance.now();
        await set(instance.store, key, value, ttlMs);
        return backendTtl(key, instance, ttlMs, since);
      }

      it('serves an entry until its TTL, and not after', async () => {
        const t = await timeline();
        const { store, instance } = t;
        if (!t.how) {
          await setAndCheckTtl(instance, 'short', utf8('v'), 1_500);
          assertSameBytes(await get(store, 'short'), utf8('v'), 'an entry right after set() with ttlMs 1500');
          return;
        }
        const ttl = t.shortTtlMs;
        await set(store, 'short', utf8('v'), ttl);
        assertSameBytes(await get(store, 'short'), utf8('v'), `an entry right after set() with ttlMs ${ttl}`);
        await t.elapse(ttl - t.margin);
        assertSameBytes(
          await get(store, 'short'),
          utf8('v'),
          `an entry ${ttl - t.margin} ms old with ttlMs ${ttl} (${t.how}): it expired too early (is the TTL read as ms?)`,
        );
        await t.elapse(t.margin + capabilities.ttlResolutionMs);
        const waited = ttl + capabilities.ttlResolutionMs;
        expect(
          await get(store, 'short'),
          `an entry read ${waited} ms after it was set with ttlMs ${ttl} (${t.how}) was still returned: an expired entry must read as a miss (check the expiry when reading, not only when cleaning up)`,
        ).toBeUndefined();
      });

      it('gives each entry its own TTL', async () => {
        const t = await timeline();
        const { store, instance } = t;
        if (!t.how) {
          await setAndCheckTtl(instance, 'short', utf8('s'), 2_000);
          await setAndCheckTtl(instance, 'long', utf8('l'), LONG_TTL_MS);
          await backendTtl('short', instance, 2_000, 0); // still at most its own TTL after the long one's set
          return;
        }
        await set(store, 'short', utf8('s'), t.shortTtlMs);
        await set(store, 'long', utf8('l'), LONG_TTL_MS);
        await t.elapse(t.shortTtlMs + capabilities.ttlResolutionMs);
        expect(
          await get(store, 'short'),
          `the entry with ttlMs ${t.shortTtlMs} outlived its TTL (${t.how})`,
        ).toBeUndefined();
        assertSameBytes(
          await get(store, 'long'),
          utf8('l'),
          `the entry with ttlMs ${LONG_TTL_MS}, ${t.shortTtlMs + capabilities.ttlResolutionMs} ms later (${t.how}): each entry keeps its own TTL`,
        );
      });

      it('replaces the expiry, not only the value, when a key is set again', async () => {
        const t = await timeline();
        const { store, instance } = t;
        if (!t.how) {
          await set(store, 'k', utf8('v1'), 2_000);
          // A key that kept its old, short TTL is far below the lower bound of the new one.
          await setAndCheckTtl(instance, 'k', utf8('v2'), LONG_TTL_MS);
          // One that kept its old, long TTL is far above the new one's upper bound.
          await setAndCheckTtl(instance, 'k', utf8('v3'), 2_000);
          return;
        }
        await set(store, 'longer', utf8('v1'), t.shortTtlMs);
        await set(store, 'longer', utf8('v2'), LONG_TTL_MS);
        await set(store, 'shorter', utf8('w1'), LONG_TTL_MS);
        await set(store, 'shorter', utf8('w2'), t.shortTtlMs);
        await t.elapse(t.shortTtlMs + capabilities.ttlResolutionMs);
        assertSameBytes(
          await get(store, 'longer'),
          utf8('v2'),
          `a key set with a short TTL, then again with ttlMs ${LONG_TTL_MS}, after the short TTL (${t.how}): setting a key replaces its expiry too`,
        );
        expect(
          await get(store, 'shorter'),
          `a key set with ttlMs ${LONG_TTL_MS}, then again with ttlMs ${t.shortTtlMs}, was still served after the short TTL (${t.how}): setting a key replaces its expiry too`,
        ).toBeUndefined();
      });

      it('hands the TTL to the backend: what it reports is within the TTL asked for', async (ctx) => {
        const { instance } = await open();
        if (!instance.remainingTtlMs) {
          ctx.skip(); // an in-process store has no backend to ask; its expiry is checked on its clock above
          return;
        }
        await setAndCheckTtl(instance, 'minute', utf8('v'), LONG_TTL_MS);
        await setAndCheckTtl(instance, 'odd', utf8('v'), 1_500);
      });
    });

    describe('values', () => {
      const large = Math.min(LARGE_VALUE_BYTES, capabilities.maxValueBytes);

      it(`round-trips a ${(large / MiB).toFixed(1)} MiB value byte for byte`, async () => {
        const { store } = await open();
        const value = patternedBytes(large);
        await set(store, 'large', value);
        assertSameBytes(await get(store, 'large'), value, `a ${large.toLocaleString('en')}-byte value`);
      });

      it('round-trips every byte value, 0 to 255, and bytes that are not valid UTF-8', async () => {
        const { store } = await open();
        const value = allByteValues();
        await attempt(
          'storing a value with all 256 byte values',
          'Values are raw bytes: store them in a binary column (bytea) or a binary-safe command, never as text.',
          () => store.set('binary', value, { ttlMs: LONG_TTL_MS }),
        );
        assertSameBytes(await get(store, 'binary'), value, 'a value holding every byte value 0–255 and invalid UTF-8');
      });

      if (capabilities.maxValueBytes <= OVERSIZE_CHECK_LIMIT) {
        it(`refuses a value over maxValueBytes (${capabilities.maxValueBytes.toLocaleString('en')}) quietly, and drops the older value of that key`, async () => {
          const { store } = await open();
          await set(store, 'big', utf8('small and old'));
          await attempt('set() of a value over maxValueBytes', 'A value too large is simply not stored.', () =>
            store.set('big', new Uint8Array(capabilities.maxValueBytes + 64 * 1024), { ttlMs: LONG_TTL_MS }),
          );
          expect(
            await get(store, 'big'),
            'after a too-large set(), get() still answered: neither the huge value nor the older, now outdated one may be served',
          ).toBeUndefined();
        });
      }
    });

    describe('keys', () => {
      const UNICODE_KEYS = [
        '🗝️ emoji',
        '👨‍👩‍👧 family (joined by zero-width joiners)',
        'café', // é as one code point (U+00E9)
        'cafe\u0301', // e + combining acute accent (U+0301): looks the same, another key
        '\u2126', // OHM SIGN
        '\u03a9', // GREEK CAPITAL LETTER OMEGA: the same after Unicode normalisation, another key here
        '日本語のキー',
        'مفتاح',
        'Key',
        'key',
        'key ', // a trailing space is part of the key
        'a b\tc\nd',
        '',
      ];

      it('keeps Unicode keys exact: emoji, accents written two ways, case, spaces, other scripts', async () => {
        const { store } = await open();
        for (const [i, key] of UNICODE_KEYS.entries()) await set(store, key, utf8(`value ${i}`));
        for (const [i, key] of UNICODE_KEYS.entries()) {
          assertSameBytes(
            await get(store, key),
            utf8(`value ${i}`),
            `key ${JSON.stringify(key)} (${[...key].map((c) => `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`).join(' ')}) — keys are compared exactly: no normalisation, no case folding, no trimming`,
          );
        }
      });

      it('takes keys literally: *, ?, [ ], %, _ and \\ are characters, not patterns', async () => {
        const { store } = await open();
        const keys = ['user:1', 'user:2', 'user:*', 'user:?', 'user:[12]', 'user:%', 'user:_', 'user:\\', 'user:.*'];
        for (const key of keys) await set(store, key, utf8(`value of ${key}`));
        for (const key of keys) {
          assertSameBytes(await get(store, key), utf8(`value of ${key}`), `key ${JSON.stringify(key)}`);
        }
        expect(await get(store, 'user:[!3]'), 'get("user:[!3]") matched another key').toBeUndefined();
        await attempt('delete("user:*")', '', () => store.delete('user:*'));
        expect(await get(store, 'user:*'), 'delete("user:*") did not delete the key "user:*"').toBeUndefined();
        for (const key of keys.filter((k) => k !== 'user:*')) {
          assertSameBytes(
            await get(store, key),
            utf8(`value of ${key}`),
            `key ${JSON.stringify(key)} after delete("user:*"): a delete removes that one key, it is not a pattern`,
          );
        }
      });
    });

    describe('concurrency', () => {
      it('survives 50 concurrent sets of one new key: all succeed, and one whole value wins', async () => {
        const { store, instance } = await open();
        const values = Array.from({ length: 50 }, (_, i) => patternedBytes(4_096, i));
        const setOne = (v: Uint8Array) => store.set('contended', v, { ttlMs: LONG_TTL_MS });
        const sets: Promise<void>[] = [];
        // With holdWrites, the first two sets are held at their write until both wait there: each
        // has looked (if it looks) before the other wrote, the race made exact. The other 48 start
        // only then (a held pool of connections has room for two, not for fifty).
        const held = instance.holdWrites ? await instance.holdWrites() : undefined;
        if (held) {
          try {
            sets.push(...values.slice(0, 2).map(setOne));
            await attempt(
              'waiting for two sets of one key to reach their write',
              'The backend was held (holdWrites) and the two sets never both waited at a write: does set() write to the backend?',
              () => held.blocked(2),
            );
            sets.push(...values.slice(2).map(setOne));
          } finally {
            await held.release();
          }
        } else {
          sets.push(...values.map(setOne));
        }
        const results = await Promise.allSettled(sets);
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(
          failed.length,
          `${failed.length} of 50 concurrent sets of one key failed (first: ${String(failed[0]?.reason?.message ?? failed[0]?.reason)}). Two sets of the same key at once must both succeed: insert-or-replace in one atomic step`,
        ).toBe(0);
        const got = await get(store, 'contended');
        const winner = values.findIndex(
          (v) => got instanceof Uint8Array && got.length === v.length && v.every((b, i) => got[i] === b),
        );
        expect(
          winner,
          'after 50 concurrent sets of one key, the value read back is none of them (mixed or lost)',
        ).not.toBe(-1);
      });

      it('stores 100 keys set concurrently, each with its own value', async () => {
        const { store } = await open();
        const keys = Array.from({ length: 100 }, (_, i) => `parallel:${i}`);
        const results = await Promise.allSettled(
          keys.map((k) => store.set(k, utf8(`value of ${k}`), { ttlMs: LONG_TTL_MS })),
        );
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(
          failed.length,
          `${failed.length} of 100 concurrent sets of different keys failed (first: ${String(failed[0]?.reason?.message ?? failed[0]?.reason)})`,
        ).toBe(0);
        const got = await Promise.all(keys.map((k) => store.get(k)));
        for (const [i, key] of keys.entries())
          assertSameBytes(got[i], utf8(`value of ${key}`), `key ${key} after 100 concurrent sets`);
      });
    });

    describe('clear and namespaces', () => {
      it('clear() removes every entry of its namespace', async () => {
        const { store } = await open();
        for (const key of ['a', 'b', 'c:d', '']) await set(store, key, utf8(key));
        await attempt('clear()', '', () => store.clear());
        for (const key of ['a', 'b', 'c:d', '']) {
          expect(await get(store, key), `key ${JSON.stringify(key)} survived clear()`).toBeUndefined();
        }
        await set(store, 'a', utf8('after'));
        assertSameBytes(await get(store, 'a'), utf8('after'), 'a key set after clear()');
      });

      it('keeps namespaces apart: the same key in two namespaces is two entries, and delete() and clear() touch only their own', async () => {
        const mine = await open(`${namespace}mine:`);
        const theirs = await open(`${namespace}theirs:`);
        await set(mine.store, 'k', utf8('mine'));
        await set(theirs.store, 'k', utf8('theirs'));
        assertSameBytes(
          await get(mine.store, 'k'),
          utf8('mine'),
          'key "k" in one namespace, after setting "k" in another',
        );
        await set(mine.store, 'gone', utf8('mine'));
        await set(theirs.store, 'gone', utf8('theirs'));
        await attempt('delete("gone")', '', () => theirs.store.delete('gone'));
        expect(await get(theirs.store, 'gone'), 'delete("gone") left the key in its own namespace').toBeUndefined();
        assertSameBytes(
          await get(mine.store, 'gone'),
          utf8('mine'),
          `delete("gone") in one namespace deleted "gone" of another namespace too: delete exactly namespace + key, not every key that ends with it`,
        );
        await attempt('clear()', '', () => mine.store.clear());
        expect(await get(mine.store, 'k'), 'clear() left an entry of its own namespace').toBeUndefined();
        assertSameBytes(
          await get(theirs.store, 'k'),
          utf8('theirs'),
          "clear() on one namespace deleted another namespace's entry: clear only what starts with this store's namespace",
        );
      });

      it('clear() takes its namespace literally: *, ?, [ ], % and _ in it do not clear look-alike namespaces', async () => {
        // Unescaped, this namespace is a pattern: as a Redis glob it matches the first look-alike,
        // as SQL LIKE the second, as a regular expression the third.
        const tricky = await open(`${namespace}k*[ab]?%_:`);
        const lookAlikes = [`${namespace}kZZa!%_:`, `${namespace}k*[ab]?XYZ:`, `${namespace}%_:`];
        const others = await Promise.all(lookAlikes.map((ns) => open(ns)));
        const unrelated = await open(`${namespace}unrelated:`);
        await set(tricky.store, 'k', utf8('tricky'));
        for (const other of others) await set(other.store, 'k', utf8('look-alike'));
        await set(unrelated.store, 'k', utf8('unrelated'));
        await attempt('clear()', '', () => tricky.store.clear());
        assertSameBytes(
          await get(unrelated.store, 'k'),
          utf8('unrelated'),
          "clear() on one namespace deleted the entry of an unrelated namespace: clear only the keys that start with this store's namespace",
        );
        for (const [i, other] of others.entries()) {
          assertSameBytes(
            await get(other.store, 'k'),
            utf8('look-alike'),
            `clear() on namespace "…k*[ab]?%_:" also deleted the entry of namespace "…${lookAlikes[i]?.slice(namespace.length)}": the namespace was used as a pattern (escape glob/LIKE wildcards, or compare prefixes exactly)`,
          );
        }
        expect(
          await get(tricky.store, 'k'),
          'clear() on namespace "…k*[ab]?%_:" left its own entry: was the namespace used as a pattern? (as a glob, "[ab]" matches one letter, not the text "[ab]")',
        ).toBeUndefined();
      });
    });

    if (capabilities.sharedAcrossProcesses) {
      describe('shared across processes', () => {
        it('shows a second instance over the same namespace its sets, overwrites, deletes and clears (as soon as it delivers them; 10 s at most)', async () => {
          const a = await open();
          const b = await open();
          await set(a.store, 'shared', utf8('v1'));
          assertSameBytes(
            await eventually(
              () => b.store.get('shared'),
              (v) => v !== undefined,
            ),
            utf8('v1'),
            'instance B reading a key instance A set',
          );
          await set(a.store, 'shared', utf8('v2'));
          assertSameBytes(
            await eventually(
              () => b.store.get('shared'),
              (v) => v !== undefined && Buffer.from(v).toString() === 'v2',
            ),
            utf8('v2'),
            'instance B, 10 s after instance A overwrote a key B had read (B must not keep serving the old value)',
            utf8('v1'),
          );
          await attempt('delete() on instance A', '', () => a.store.delete('shared'));
          expect(
            await eventually(
              () => b.store.get('shared'),
              (v) => v === undefined,
            ),
            'instance B still served a key 10 s after instance A deleted it',
          ).toBeUndefined();
          await set(a.store, 'cleared', utf8('x'));
          await b.store.get('cleared');
          await attempt('clear() on instance B', '', () => b.store.clear());
          expect(
            await eventually(
              () => a.store.get('cleared'),
              (v) => v === undefined,
            ),
            'instance A still served a key 10 s after instance B cleared the namespace',
          ).toBeUndefined();
        });
      });
    } else {
      describe('private to its process', () => {
        it("does not show a second instance the first one's entries", async () => {
          const a = await open();
          const b = await open();
          await set(a.store, 'mine', utf8('v'));
          expect(
            await get(b.store, 'mine'),
            "a second instance saw the first one's entry, but this store declares sharedAcrossProcesses: false",
          ).toBeUndefined();
        });
      });
    }

    it(
      capabilities.survivesRestart
        ? 'keeps its entries across a restart (close, then open again)'
        : 'starts empty after a restart (close, then open again)',
      async () => {
        const first = await open();
        await set(first.store, 'durable', utf8('still here'));
        await first.shutDown();
        const again = await open();
        if (capabilities.survivesRestart) {
          assertSameBytes(
            await get(again.store, 'durable'),
            utf8('still here'),
            'an entry read by a new instance after the first one closed (this store declares survivesRestart: true)',
          );
        } else {
          expect(
            await get(again.store, 'durable'),
            "a new instance found the closed one's entry, but this store declares survivesRestart: false",
          ).toBeUndefined();
        }
      },
    );
  });
}
