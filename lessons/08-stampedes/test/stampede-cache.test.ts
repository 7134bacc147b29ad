import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { updateEmployee } from '@cachelab/lesson-04-hierarchical/employee-update';
import { useServices } from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/cache-entry.ts';
import { createStampedeCache, type StampedeCacheOptions } from '../src/stampede-cache.ts';

const services = useServices();
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/** A promise the test settles by hand, to hold a load at an exact point. */
function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** One cache as one instance would have it: its own L1, its own Redis connections. */
async function cache(options: Partial<StampedeCacheOptions> = {}) {
  // A generous command timeout: the machine is shared, and a timeout here would be a BYPASS, not what we test.
  const redis = createRedisClient({ commandTimeoutMs: 5_000, log: () => {} });
  const subscriber = createRedisClient({ commandTimeoutMs: 5_000, log: () => {} });
  cleanups.push(() => {
    redis.disconnect();
    subscriber.disconnect();
  });
  await whenReady(redis, 5_000);
  const errors: string[] = [];
  const c = createStampedeCache({
    redis,
    subscriber,
    keyPrefix: services.prefix,
    l1: { maxBytes: 1024 * 1024, ttlMs: 5_000 },
    freshTtlMs: 10_000,
    graceMs: 60_000,
    jitter: 0,
    earlyRefreshBeta: 0,
    onError: (error, operation) => errors.push(`${operation}: ${error.message}`),
    ...options,
  });
  cleanups.push(() => c.close());
  await c.ready;
  return Object.assign(c, { errors });
}

/** Poll `check` until it holds or `timeoutMs` (generous: the machine is shared) runs out. */
async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return check();
}

const employee = (id: number) => ({ name: 'employee', params: { id } });
const nameIn = (body: Buffer) => (JSON.parse(body.toString()) as { name: string }).name;
const employeeQueries = () => services.queries.matching(/FROM employees/);

describe('a slow load that finishes after a delete (the stale-write race)', () => {
  /**
   * The reader loads the row, then stalls (the gate) while a writer updates the row and
   * invalidates the cache; then the reader finishes and tries to store what it loaded.
   * The order is forced by the test, so the race happens every time, not by luck.
   */
  async function race(generationGuard: boolean) {
    const c = await cache({ generationGuard });
    const id = generationGuard ? 30 : 31;
    const before = (await getEmployee(services.db, id))?.name as string;
    const selected = gate();
    const stalled = gate();
    const reading = c.get(employee(id), async () => {
      const row = await getEmployee(services.db, id); // the old row, committed at this moment
      selected.open();
      await stalled.promise;
      return row;
    });
    await selected.promise;
    await updateEmployee(services.db, id, { name: 'Renamed During The Load' });
    await c.delete(employee(id));
    stalled.open();
    const answered = await reading;
    const stored = await services.redis.getBuffer(c.keys(employee(id)).value);
    const next = await c.get(employee(id), async () => getEmployee(services.db, id));
    return { before, answered, stored, next };
  }

  it('without the generation guard, writes the old row back after the delete: every later read is stale', async () => {
    const { before, answered, stored, next } = await race(false);
    expect(nameIn(answered.body), 'the request that asked before the write gets the row it loaded').toBe(before);
    expect(stored, 'this is the race: the old row is back in Redis after the delete').not.toBeNull();
    expect(nameIn(decodeEntry(stored as Buffer)?.body as Buffer)).toBe(before);
    expect([next.status, nameIn(next.body)]).toEqual(['HIT', before]);
  });

  it('with the generation guard, refuses that write: the next read loads the new row', async () => {
    const { before, answered, stored, next } = await race(true);
    expect(nameIn(answered.body)).toBe(before);
    expect(stored, 'the load that started before the delete wrote its old value into Redis').toBeNull();
    expect([next.status, nameIn(next.body)]).toEqual(['MISS', 'Renamed During The Load']);
  });
});

describe('stale-while-revalidate and the grace period', () => {
  it('serves a stale value at once to 100 concurrent readers while exactly one refresh runs', async () => {
    let now = 1_000_000;
    const c = await cache({ now: () => now });
    await c.get(employee(40), () => getEmployee(services.db, 40));
    now += 10_001; // past the fresh TTL, well within the grace period
    services.queries.reset();

    const refresh = gate();
    let refreshes = 0;
    const readers = await Promise.all(
      Array.from({ length: 100 }, () =>
        c.get(employee(40), async () => {
          refreshes++;
          await refresh.promise; // the refresh is slow: nobody may wait for it
          return getEmployee(services.db, 40);
        }),
      ),
    );
    expect(readers.every((r) => r.status === 'STALE')).toBe(true);
    expect(readers[0]?.staleForMs).toBe(1);
    // Every reader has its answer while the refresh is still held at the gate.
    expect(await eventually(() => refreshes > 0), 'no refresh started').toBe(true);
    refresh.open();
    await c.settled();
    expect(refreshes, 'the stale reads started more than one refresh').toBe(1);
    expect(employeeQueries()).toBe(1);
    const after = await c.get(employee(40), () => getEmployee(services.db, 40));
    expect(after.status, 'the refreshed value should be fresh again').toBe('HIT');
  });

  it('keeps serving the stale value while refreshes fail, then stops at the end of the grace period', async () => {
    let now = 1_000_000;
    const c = await cache({ now: () => now });
    await c.get(employee(41), () => getEmployee(services.db, 41));
    const down = async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    };

    now += 10_001;
    expect((await c.get(employee(41), down)).status).toBe('STALE');
    await c.settled();
    expect(c.errors.some((e) => e.startsWith('refresh: connect ECONNREFUSED'))).toBe(true);
    now += 59_000; // still within fresh TTL + grace
    expect((await c.get(employee(41), down)).status, 'a failed refresh dropped the stale value').toBe('STALE');
    await c.settled();

    now += 1_000; // fresh TTL + grace is over: too old to serve, even with the database down
    await expect(c.get(employee(41), down)).rejects.toThrow('ECONNREFUSED');
    const back = await c.get(employee(41), () => getEmployee(services.db, 41));
    expect(back.status).toBe('MISS');
  });
});

describe('early refresh (XFetch) with an injected clock and random source', () => {
  it('refreshes in the background once within delta·ln 2 of expiry (rand = 0.5), not before', async () => {
    let now = 1_000_000;
    const c = await cache({ now: () => now, random: () => 0.5, earlyRefreshBeta: 1, graceMs: 0 });
    let loads = 0;
    const load = async () => {
      loads++;
      now += 1_000; // this recomputation "takes" one second on the injected clock: delta = 1000
      return getEmployee(services.db, 42);
    };
    await c.get(employee(42), load);
    const expiresAt = now + 10_000;

    now = expiresAt - 694;
    expect((await c.get(employee(42), load)).status).toBe('HIT');
    await c.settled();
    expect(loads, 'refreshed although the entry was further than delta·ln 2 from its expiry').toBe(1);

    now = expiresAt - 693;
    expect((await c.get(employee(42), load)).status, 'an early refresh must not make the reader wait').toBe('HIT');
    await c.settled();
    expect(loads).toBe(2);
  });
});

describe('peek: the fresh L1 hit without a promise (what the app answers most requests with)', () => {
  it('answers a fresh entry in L1 only, leaving STALE to get', async () => {
    let now = 1_000_000;
    // L1 keeps its copy longer than it is fresh (the grace period allows it): freshness decides.
    const c = await cache({ now: () => now, l1: { maxBytes: 1024 * 1024, ttlMs: 20_000 } });
    const load = () => getEmployee(services.db, 44);
    expect(c.peek(employee(44), load), 'nothing cached yet').toBeUndefined();
    const miss = await c.get(employee(44), load);
    expect(c.peek(employee(44), load)?.equals(miss.body)).toBe(true);
    now += 9_999;
    expect(c.peek(employee(44), load)?.equals(miss.body), 'still fresh').toBe(true);
    now += 2; // past the fresh TTL of 10 s, within the grace period
    expect(c.peek(employee(44), load), 'a stale entry is for get() to answer (STALE, and a refresh)').toBeUndefined();
    expect(services.queries.matching(/FROM employees/)).toBe(1);
  });

  it('rolls the XFetch die like get: within delta·ln 2 of expiry it refreshes in the background', async () => {
    let now = 1_000_000;
    const c = await cache({
      now: () => now,
      random: () => 0.5,
      earlyRefreshBeta: 1,
      graceMs: 0,
      l1: { maxBytes: 1024 * 1024, ttlMs: 10_000 },
    });
    let loads = 0;
    const load = async () => {
      loads++;
      now += 1_000; // delta = 1000 on the injected clock
      return getEmployee(services.db, 45);
    };
    await c.get(employee(45), load);
    const expiresAt = now + 10_000;
    now = expiresAt - 694;
    expect(c.peek(employee(45), load)).toBeDefined();
    await c.settled();
    expect(loads, 'refreshed too early').toBe(1);
    now = expiresAt - 693;
    expect(c.peek(employee(45), load), 'an early refresh must not make the reader wait').toBeDefined();
    await c.settled();
    expect(loads).toBe(2);
  });
});

describe('TTL jitter', () => {
  it('stores the entry for the jittered fresh TTL plus the grace period', async () => {
    const now = 1_000_000;
    const c = await cache({ now: () => now, random: () => 0.5, jitter: 0.2, graceMs: 5_000 });
    await c.get(employee(43), () => getEmployee(services.db, 43));
    const key = c.keys(employee(43)).value;
    const entry = decodeEntry((await services.redis.getBuffer(key)) as Buffer);
    expect((entry?.freshUntilMs ?? 0) - (entry?.storedAtMs ?? 0)).toBe(9_000); // 10 s minus 0.5 × 20 %
    const pttl = await services.redis.pttl(key);
    expect(pttl).toBeGreaterThan(13_000);
    expect(pttl).toBeLessThanOrEqual(14_000);
  });
});
