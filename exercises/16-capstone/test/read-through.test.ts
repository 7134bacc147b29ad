import { HttpProblem } from '@cachelab/lesson-01-uncached/problem';
import { createTagIndex } from '@cachelab/lesson-05-invalidation/tags';
import { resolveTtlPolicy } from '@cachelab/lesson-05-invalidation/ttl-policy';
import { createMemoryCacheStore } from '@cachelab/lesson-06-custom-backends/memory-cache-store';
import { encodeRepresentation, strongEtag } from '@cachelab/lesson-07-http-caching/representation';
import { encodeEntry } from '@cachelab/lesson-08-stampedes/cache-entry';
import { useServices } from '@cachelab/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import type { CapstoneStore } from '../src/capstone-store.ts';
import { createReadThrough, type Loaded, type ReadRequest } from '../src/read-through.ts';
import { cleanups, gate, runCleanups, testClock, whyStatus } from './instances.ts';

/**
 * Your read-through cache (read-through.ts) on its own, over a plain in-memory store (so that
 * a failure here is read-through.ts's, not your store's), with loaders the tests control: a
 * "slow query" is a loader that waits until the test opens its gate.
 */
const services = useServices();
afterEach(runCleanups);

const FRESH_S = 50; // lesson 05's `aggregate` and `status` kinds: 50 s in L2
const GRACE_MS = 5_000;

function setup(options: { etagOf?: (body: Buffer) => string; readFails?: boolean } = {}) {
  const clock = testClock();
  const memory = createMemoryCacheStore({ now: clock.now });
  const deleted: string[] = [];
  const stored: string[] = [];
  const store: CapstoneStore = {
    ...memory,
    async read(key) {
      // A store whose lookups fail, as the capstone store's do while Redis is down or the circuit open.
      if (options.readFails) throw new Error('Command timed out');
      const value = await memory.get(key);
      return value === undefined ? undefined : { value, level: 'l1' };
    },
    async set(key, value, setOptions) {
      stored.push(key);
      await memory.set(key, value, setOptions);
    },
    async delete(key) {
      deleted.push(key);
      await memory.delete(key);
    },
    ready: Promise.resolve(),
    close: async () => {},
  };
  const errors: string[] = [];
  const cache = createReadThrough({
    store,
    tags: createTagIndex({ redis: services.redis, ttlSeconds: 600 }),
    ttls: resolveTtlPolicy({ aggregate: { l2TtlSeconds: FRESH_S }, status: { l2TtlSeconds: FRESH_S } }),
    graceMs: GRACE_MS,
    now: clock.now,
    ...(options.etagOf ? { etagOf: options.etagOf } : {}),
    onError: (error, operation) => errors.push(`${operation}: ${error.message}`),
  });
  cleanups.push(() => cache.settled());
  return { cache, clock, store, deleted, stored, errors };
}

/** A loader that counts its calls and answers `value()` (what the database holds now). */
function loader(value: () => unknown, wait?: Promise<void>) {
  const counter = { calls: 0 };
  const load = async (): Promise<Loaded> => {
    counter.calls++;
    const answer = value();
    if (wait) await wait;
    return { value: answer, lastModified: Date.UTC(2026, 0, 1) };
  };
  return { load, counter };
}

const body = (result: { representation: { body: Buffer } }) => JSON.parse(result.representation.body.toString());

describe('the read path', () => {
  it('a MISS loads and stores; the next read is a HIT with the same bytes, without loading', async () => {
    const { cache, errors } = setup();
    const { load, counter } = loader(() => ({ id: 1 }));
    const request: ReadRequest = { kind: 'status', key: 'employee:1', load };
    const first = await cache.get(request);
    const second = await cache.get(request);
    expect(
      [first.status, second.status],
      `a first read loads and stores (MISS), the second is served from the store (HIT); they answered ${first.status} and ${second.status}: ${whyStatus(first.status, 'MISS') || whyStatus(second.status, 'HIT')}`,
    ).toEqual(['MISS', 'HIT']);
    expect(body(second), 'the HIT’s body is not what the fill loaded').toEqual({ id: 1 });
    expect(counter.calls, 'the second read called the loader again: it should have been a HIT').toBe(1);
    expect(errors, 'a MISS and a HIT with a healthy store reported errors').toEqual([]);
  });

  it('an entry the store still holds past its grace (or bytes that are no entry) is a MISS, never served', async () => {
    const { cache, clock, store } = setup();
    const { load, counter } = loader(() => ({ id: 13, version: 2 }));
    // Another instance, or an L2 whose TTL outlives the entry's grace, still holds it: it says it expired.
    const old = {
      body: Buffer.from('{"id":13,"version":1}'),
      etag: '"v1"',
      lastModified: 'Thu, 01 Jan 2026 00:00:00 GMT',
    };
    const at = clock.now() - 120_000;
    await store.set(
      'employee:13',
      encodeEntry({
        body: encodeRepresentation(old),
        storedAtMs: at,
        freshUntilMs: at + 50_000,
        staleUntilMs: at + 55_000,
        deltaMs: 1,
      }),
      { ttlMs: 600_000 },
    );
    await store.set('employee:14', Buffer.from('not an entry'), { ttlMs: 600_000 });
    const expired = await cache.get({ kind: 'status', key: 'employee:13', load });
    expect(
      `${expired.status} v${body(expired).version}`,
      `the stored entry is past its grace (lesson 08’s freshness says expired): it must not be served, even as STALE, but loaded again (MISS): ${whyStatus(expired.status, 'MISS')}`,
    ).toBe('MISS v2');
    const garbage = await cache.get({ kind: 'status', key: 'employee:14', load: loader(() => ({ id: 14 })).load });
    expect(
      `${garbage.status} ${JSON.stringify(body(garbage))}`,
      `bytes that are no entry (decodeStored answers undefined) are a MISS that loads: ${whyStatus(garbage.status, 'MISS')}`,
    ).toBe('MISS {"id":14}');
    expect(counter.calls, 'the expired entry should be loaded again exactly once').toBe(1);
  });

  it('computes the ETag once per fill, stores it with the entry and serves it with every hit (never hashes per request)', async () => {
    let hashed = 0;
    const { cache } = setup({
      etagOf: (b) => {
        hashed++;
        return strongEtag(b);
      },
    });
    const { load } = loader(() => ({ id: 2, name: 'Ada' }));
    const request: ReadRequest = { kind: 'status', key: 'employee:2', load };
    const etags = new Set<string>();
    const statuses: string[] = [];
    for (let i = 0; i < 10; i++) {
      const read = await cache.get(request);
      etags.add(read.representation.etag);
      statuses.push(read.status);
    }
    const notHit = statuses.slice(1).find((s) => s !== 'HIT');
    expect(
      hashed,
      notHit
        ? `etagOf was called ${hashed} times for 10 reads, because the 9 after the first were not all hits (${statuses.join(', ')}), so each loaded and hashed anew: ${whyStatus(notHit, 'HIT')}`
        : `etagOf was called ${hashed} times for one fill and 9 hits: compute the ETag when the entry is filled and keep it in the entry (lesson 07)`,
    ).toBe(1);
    expect([...etags], 'every hit should carry the ETag computed at the fill').toEqual([
      strongEtag(Buffer.from('{"id":2,"name":"Ada"}')),
    ]);
  });

  it('50 concurrent reads of a cold key make ONE load, and all 50 get its value (single-flight)', async () => {
    const { cache } = setup();
    const slow = gate();
    const { load, counter } = loader(() => ({ id: 3 }), slow.opened);
    const reads = Array.from({ length: 50 }, () => cache.get({ kind: 'status', key: 'employee:3', load }));
    await new Promise((r) => setTimeout(r, 50)); // every read has looked and missed
    slow.open();
    const results = await Promise.all(reads);
    const bypassed = results.filter((r) => r.status === 'BYPASS').length;
    expect(
      counter.calls,
      bypassed > 0
        ? `50 concurrent reads of a cold key called the loader ${counter.calls} times, and ${bypassed} of them answered BYPASS: ${whyStatus('BYPASS', 'MISS')}. Then a MISS runs the loads of one key as one flight (lesson 08’s single-flight)`
        : `50 concurrent misses of one key called the loader ${counter.calls} times: run the loads of one key as one flight (lesson 08’s single-flight, keyed by the cache key)`,
    ).toBe(1);
    expect(
      results.filter((r) => body(r).id !== 3).length,
      'some of the 50 waiters of the one load got another value than its own',
    ).toBe(0);
  });

  it('concurrent misses of two keys make one load EACH, and each read gets its own key’s value', async () => {
    const { cache } = setup();
    const slow = gate();
    const a = loader(() => ({ id: 4 }), slow.opened);
    const b = loader(() => ({ id: 5 }), slow.opened);
    const reads = [
      ...Array.from({ length: 10 }, () => cache.get({ kind: 'status', key: 'employee:4', load: a.load })),
      ...Array.from({ length: 10 }, () => cache.get({ kind: 'status', key: 'employee:5', load: b.load })),
    ];
    await new Promise((r) => setTimeout(r, 50));
    slow.open();
    const results = await Promise.all(reads);
    const ids = results.map((r) => body(r).id);
    const bypassed = results.filter((r) => r.status === 'BYPASS').length;
    expect(
      ids,
      'a read of employee 5 got employee 4 (or the reverse): the flight must be keyed by the cache key, not by the kind or the route',
    ).toEqual([...Array(10).fill(4), ...Array(10).fill(5)]);
    expect(
      [a.counter.calls, b.counter.calls],
      `10 concurrent reads of employee 4 and 10 of employee 5 loaded them ${a.counter.calls} and ${b.counter.calls} times: one flight per cache key, so one load EACH (lesson 08’s single-flight, keyed by request.key)${bypassed > 0 ? `. ${bypassed} of the 20 answered BYPASS: ${whyStatus('BYPASS', 'MISS')}` : ''}`,
    ).toEqual([1, 1]);
  });
});

describe('a failed lookup', () => {
  it('answers BYPASS from the loader, and stores nothing: not this read, not the next', async () => {
    const { cache, stored, errors } = setup({ readFails: true });
    const { load, counter } = loader(() => ({ id: 12 }));
    const request: ReadRequest = { kind: 'status', key: 'employee:12', load };
    const answers = [await cache.get(request), await cache.get(request)];
    expect(
      answers.map((r) => `${r.status} ${JSON.stringify(body(r))}`),
      'the store failed the lookup: answer from the loader, with X-Cache BYPASS',
    ).toEqual(Array(2).fill('BYPASS {"id":12}'));
    expect(counter.calls, 'each BYPASS loads (nothing was looked up)').toBe(2);
    expect(
      errors,
      `the store’s lookup (store.read) rejects with 'Command timed out', and onError heard ${JSON.stringify(errors)}: get() must look the key up with store.read first and, when that rejects, report the error with onError(error, 'get') and answer BYPASS`,
    ).toEqual(Array(2).fill('get: Command timed out'));
    expect(
      stored,
      'a lookup failed (BYPASS) and your read still wrote what it loaded into the store: with Redis failing, that SET costs each request a second timeout. A BYPASS stores nothing',
    ).toEqual([]);
  });
});

describe('errors are never cached', () => {
  it("a loader's error (a 404) reaches every waiter, is not stored, and the next read loads again", async () => {
    const { cache, store } = setup();
    let exists = false;
    let calls = 0;
    const load = async (): Promise<Loaded> => {
      calls++;
      if (!exists) throw new HttpProblem(404, 'not-found', 'Not found', 'There is no employee with id 6.');
      return { value: { id: 6 } };
    };
    const request: ReadRequest = { kind: 'status', key: 'employee:6', load };
    const failed = await Promise.allSettled([cache.get(request), cache.get(request)]);
    expect(
      failed.map((r) => r.status),
      'both waiters of the failed load should see its error',
    ).toEqual(['rejected', 'rejected']);
    expect(await store.get('employee:6'), 'the failed load stored something under the key').toBeUndefined();
    exists = true;
    const after = await cache.get(request).catch((err: Error) => err);
    expect(
      after instanceof Error ? `rejected again: ${after.message}` : body(after),
      'the employee exists now, yet the read failed again without asking the loader: an error must not be remembered (not in the store, not in a map of flights or of "known misses")',
    ).toEqual({ id: 6 });
    expect(
      calls,
      calls > 2
        ? `the loader ran ${calls} times, not 2: the two concurrent reads of the missing employee each ran their own load. They must share ONE load (lesson 08’s single-flight), whose 404 reaches both; the read after the employee exists is the second`
        : `the loader ran ${calls} time(s), not 2: the read after the employee exists must load again (the 404 is never remembered)`,
    ).toBe(2);
  });
});

describe('stale-while-revalidate', () => {
  it('past its TTL but within the grace: STALE at once, ONE refresh in the background for many readers, then a HIT with the new value', async () => {
    const { cache, clock } = setup();
    let version = 1;
    const { load, counter } = loader(() => ({ id: 7, version }));
    const request: ReadRequest = { kind: 'status', key: 'employee:7', load };
    await cache.get(request);
    version = 2;
    clock.advance(FRESH_S * 1000 + 1);
    const stale = await Promise.all(Array.from({ length: 10 }, () => cache.get(request)));
    const notStale = stale.find((r) => r.status !== 'STALE')?.status;
    expect(
      stale.map((r) => `${r.status} v${body(r).version}`),
      `an entry past its TTL but within the grace should be answered at once (STALE, the old value) while it is refreshed: ${whyStatus(notStale, 'STALE')}`,
    ).toEqual(Array(10).fill('STALE v1'));
    expect(stale[0]?.timings, 'a STALE answer says how long its lookup took (Server-Timing l1 or l2)').toHaveProperty(
      'l1',
    );
    await cache.settled();
    expect(
      counter.calls,
      `10 stale reads made ${counter.calls - 1} refreshes (the loader ran ${counter.calls} times, counting the first fill): they should start ONE. Run the background refresh through the single-flight, keyed by the cache key (lesson 08)`,
    ).toBe(2);
    const fresh = await cache.get(request);
    expect(
      `${fresh.status} v${body(fresh).version}`,
      `after the refresh, the new value should be a HIT: ${fresh.status === 'HIT' ? 'the refresh stored the old value, not what it loaded' : whyStatus(fresh.status, 'HIT')}`,
    ).toBe('HIT v2');
  });

  it('past the grace, an entry is a MISS: the read waits for the new value', async () => {
    const { cache, clock } = setup();
    let version = 1;
    const { load } = loader(() => ({ id: 8, version }));
    const request: ReadRequest = { kind: 'status', key: 'employee:8', load };
    await cache.get(request);
    version = 2;
    clock.advance(FRESH_S * 1000 + GRACE_MS + 1);
    const late = await cache.get(request);
    expect(
      `${late.status} v${body(late).version}`,
      `past TTL + grace an entry must not be served: the read loads the new value (MISS): ${whyStatus(late.status, 'MISS')}`,
    ).toBe('MISS v2');
  });
});

describe('invalidation', () => {
  it('a write deletes the keys it names and every key carrying one of its tags', async () => {
    const { cache, store } = setup();
    const tagA = `${services.prefix}tag:dept=A`;
    const tagB = `${services.prefix}tag:dept=B`;
    const value = () => ({ n: 1 });
    const statuses = [
      await cache.get({ kind: 'aggregate', key: 'summary:A', tags: [tagA], load: loader(value).load }),
      await cache.get({ kind: 'aggregate', key: 'overview', tags: [tagA, tagB], load: loader(value).load }),
      await cache.get({ kind: 'aggregate', key: 'summary:B', tags: [tagB], load: loader(value).load }),
      await cache.get({ kind: 'status', key: 'employee:9', load: loader(value).load }),
    ].map((r) => r.status);
    const keys = ['summary:A', 'overview', 'summary:B', 'employee:9'];
    const held = async () => {
      const found = [];
      for (const key of keys) if (await store.get(key)) found.push(key);
      return found;
    };
    const filled = await held();
    expect(
      filled,
      `before the write, the four reads should have stored their entries; the store held ${JSON.stringify(filled)} (the reads answered ${statuses.join(', ')}): ${statuses.includes('BYPASS') ? whyStatus('BYPASS', 'MISS') : 'a MISS stores what it loaded (store.set in fill)'}`,
    ).toEqual(keys);
    await cache.invalidate({ keys: ['employee:9'], tags: [tagA] });
    const left = await held();
    const why = [
      left.includes('employee:9') && 'employee:9 was named in keys: delete it from the store',
      (left.includes('summary:A') || left.includes('overview')) &&
        'summary:A and overview carry tag dept=A: fill() adds each key to its tags (options.tags.add), and invalidate() takes the members of each tag (options.tags.take) and deletes them',
      !left.includes('summary:B') && 'summary:B carries tag dept=B only: it must stay',
    ].filter(Boolean);
    expect(
      left,
      `after invalidating employee:9 and tag dept=A, only summary:B (tagged B alone) should be left: ${why.join('; ')}`,
    ).toEqual(['summary:B']);
  });

  it('a load that a write overtook answers its request but stores nothing (the generation guard)', async () => {
    const { cache, store, deleted, errors } = setup();
    let row = 'before the write';
    const slow = gate();
    const request: ReadRequest = {
      kind: 'status',
      key: 'employee:10',
      load: loader(() => ({ id: 10, row }), slow.opened).load,
    };
    const pending = cache.get(request); // reads the row, then waits
    await new Promise((r) => setTimeout(r, 20));
    row = 'after the write';
    await cache.invalidate({ keys: ['employee:10'], tags: [] }); // the write committed meanwhile
    expect(
      { deleted, errors },
      "invalidate({ keys: ['employee:10'], tags: [] }) should delete exactly that key from the store (store.delete, once) and report no error to onError",
    ).toEqual({ deleted: ['employee:10'], errors: [] });
    slow.open();
    expect(body(await pending).row, 'the overtaken read still answers what it loaded').toBe('before the write');
    expect(
      await store.get('employee:10'),
      'a load that began before a write stored the old row AFTER the write invalidated the key: it is served for a whole TTL. Store a fill only if no invalidation happened since its load began',
    ).toBeUndefined();
    request.load = loader(() => ({ id: 10, row })).load;
    expect(
      body(await cache.get(request)).row,
      'a read after the write got the old row: the overtaken load must not have left it anywhere (store or flight)',
    ).toBe('after the write');
  });

  it('a read that arrives after a write does not join a load that began before it', async () => {
    const { cache } = setup();
    let row = 'old';
    const slow = gate();
    const before = cache.get({ kind: 'status', key: 'employee:11', load: loader(() => ({ row }), slow.opened).load });
    await new Promise((r) => setTimeout(r, 20));
    row = 'new';
    await cache.invalidate({ keys: ['employee:11'], tags: [] });
    const after = cache.get({ kind: 'status', key: 'employee:11', load: loader(() => ({ row })).load });
    slow.open();
    const [afterResult] = await Promise.all([after, before]);
    const afterBody = body(afterResult);
    expect(
      afterBody.row,
      'a read that began after the write got the old row: it joined the flight of a load that began before the write. Forget the key’s flight when you invalidate it (lesson 08)',
    ).toBe('new');
  });
});
