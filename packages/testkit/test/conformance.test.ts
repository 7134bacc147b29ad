import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
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

  it('says a stale copy is a stale copy, not an encoding, when the value from before the overwrite comes back', () => {
    expect(() => assertSameBytes(utf8('v1'), utf8('v2'), 'B', utf8('v1'))).toThrow(
      /value the key held before it was overwritten.*not dropped/,
    );
    expect(() => assertSameBytes(utf8('v3'), utf8('v2'), 'B', utf8('v1'))).toThrow(/first at byte 1 of 2/);
    expect(() => assertSameBytes(utf8('v2'), utf8('v2'), 'B', utf8('v1'))).not.toThrow();
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

/**
 * The suite must also *fail* stores that break the contract, each for the right reason.
 * test/fixtures/conformance/broken-stores.fixture.ts runs it over seven stores that each break
 * one rule; this runs that file in a vitest of its own and reads its JSON report.
 */
describe('the suite fails a store that breaks the contract, and says why', () => {
  interface Result {
    store: string;
    title: string;
    status: string;
    message: string;
  }
  let results: Result[] = [];

  beforeAll(async () => {
    const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
    const config = fileURLToPath(new URL('./fixtures/conformance/vitest.config.ts', import.meta.url));
    const out = mkdtempSync(join(tmpdir(), 'cachelab-conformance-'));
    try {
      await new Promise<void>((resolve) => {
        // It exits 1 (tests failed): that is the point. The report says what failed.
        execFile(
          process.execPath,
          [vitest, 'run', '--config', config, '--reporter=json', `--outputFile=${join(out, 'report.json')}`],
          { timeout: 60_000 },
          () => resolve(),
        );
      });
      const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
        testResults: {
          assertionResults: { ancestorTitles: string[]; title: string; status: string; failureMessages: string[] }[];
        }[];
      };
      results = report.testResults.flatMap((file) =>
        file.assertionResults.map((t) => ({
          store: (t.ancestorTitles[0] ?? '').split(' ')[0] ?? '',
          title: t.title,
          status: t.status,
          message: t.failureMessages[0]?.split('\n')[0] ?? '',
        })),
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 90_000);

  const failed = (store: string) => results.filter((r) => r.store === store && r.status === 'failed');

  it('fails a store that serves expired entries, in the three TTL tests only', () => {
    expect(failed('never-expires').map((r) => r.title)).toEqual([
      'serves an entry until its TTL, and not after',
      'gives each entry its own TTL',
      'replaces the expiry, not only the value, when a key is set again',
    ]);
    expect(failed('never-expires')[0]?.message).toMatch(/an expired entry must read as a miss/);
  });

  it('fails a store whose clear() empties every namespace', () => {
    const titles = failed('clears-everything').map((r) => r.title);
    expect(titles).toContain(
      'keeps namespaces apart: the same key in two namespaces is two entries, and delete() and clear() touch only their own',
    );
    expect(failed('clears-everything')[0]?.message).toMatch(/deleted another namespace's entry/);
  });

  it('fails a store whose delete() reaches into other namespaces, and only in that test', () => {
    expect(failed('deletes-everywhere').map((r) => r.title)).toEqual([
      'keeps namespaces apart: the same key in two namespaces is two entries, and delete() and clear() touch only their own',
    ]);
    expect(failed('deletes-everywhere')[0]?.message).toMatch(/deleted "gone" of another namespace too/);
  });

  it('fails a store that cuts TTLs to whole seconds, from the lower bound of the TTL its backend reports', () => {
    expect(failed('ttl-cut-to-seconds').map((r) => r.title)).toEqual([
      'hands the TTL to the backend: what it reports is within the TTL asked for',
    ]);
    expect(failed('ttl-cut-to-seconds')[0]?.message).toMatch(/set with ttlMs 1500 .* shorter than asked/);
  });

  it('fails a store that uses its namespace as a pattern, and only in that test', () => {
    expect(failed('clears-by-pattern').map((r) => r.title)).toEqual([
      'clear() takes its namespace literally: *, ?, [ ], % and _ in it do not clear look-alike namespaces',
    ]);
    expect(failed('clears-by-pattern')[0]?.message).toMatch(/the namespace was used as a pattern/);
  });

  it("fails a store that keeps the caller's buffer", () => {
    expect(failed('keeps-caller-buffer').map((r) => r.message)).toEqual([
      expect.stringMatching(/kept the caller's buffer instead of a copy/),
    ]);
  });

  it('fails a store that answers strings, saying values are bytes', () => {
    expect(failed('returns-text').length).toBeGreaterThan(10);
    expect(failed('returns-text')[0]?.message).toMatch(/not bytes/);
  });
});
