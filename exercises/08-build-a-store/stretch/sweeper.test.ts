import type { PoolClient } from '@cachelab/db';
import { useServices } from '@cachelab/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCacheTable, createPostgresStore } from '../src/postgres-store.ts';

/**
 * The stretch goal of exercise 08 (README): `startSweeper({ intervalMs, batchSize })` sweeps
 * periodically, keeps sweeping while batches come back full, never runs two sweeps at once, and
 * has a `stop()` that waits for the sweep in progress. (`npx cachelab verify 08 --stretch`)
 *
 * The sweeper's clock is faked (setInterval and setTimeout): a tick happens when the test says
 * so, never because the machine was slow. PostgreSQL says which statements wait on a lock the
 * test holds (pg_blocking_pids): no sleep decides what happened, only that nothing more did.
 */
const services = useServices();
beforeAll(() => createCacheTable(services.db));

/** The real setTimeout, kept before the tests fake it. */
const realSetTimeout = globalThis.setTimeout;
const realSleep = (ms: number) => new Promise((resolve) => realSetTimeout(resolve, ms));
/** Poll `check` on the real clock until it is true; false after `timeoutMs`. */
async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() > deadline) return false;
    await realSleep(10);
  }
}

interface Sweeper {
  stop(): Promise<void>;
}
type StartSweeper = (options: { intervalMs: number; batchSize: number }) => Sweeper;

let namespace = 0;
/** A store of its own namespace, with `expired` rows that expired a minute ago. */
async function storeWithExpired(expired: number) {
  const prefix = `${services.prefix}sweeper${++namespace}:`;
  const store = createPostgresStore({ db: services.db, namespace: prefix });
  const startSweeper = (store as unknown as { startSweeper?: StartSweeper }).startSweeper;
  expect(
    typeof startSweeper,
    'the store has no startSweeper: add startSweeper({ intervalMs, batchSize }) to the object createPostgresStore returns, returning { stop() }',
  ).toBe('function');
  await addExpired(prefix, expired);
  return { prefix, start: (startSweeper as StartSweeper).bind(store) };
}
async function addExpired(prefix: string, n: number, from = 0): Promise<void> {
  await services.db.query(
    `INSERT INTO cache_entries (key, value, expires_at)
       SELECT $1 || i, '\\x00'::bytea, now() - interval '1 minute' FROM generate_series($2::int, $3::int) AS i`,
    [prefix, from + 1, from + n],
  );
}
async function expiredLeft(prefix: string): Promise<number> {
  const { rows } = await services.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM cache_entries WHERE starts_with(key, $1) AND expires_at <= now()',
    [prefix],
  );
  return rows[0]?.n ?? 0;
}

/** The table held in SHARE mode by a transaction of the test's: every DELETE of it waits. */
async function holdTable(): Promise<{ waiting(): Promise<number>; release(): Promise<void> }> {
  const locker: PoolClient = await services.db.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE cache_entries IN SHARE MODE');
  const pid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
  let released = false;
  return {
    async waiting() {
      const { rows } = await services.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
        [pid],
      );
      return rows[0]?.n ?? 0;
    },
    async release() {
      if (released) return;
      released = true;
      await locker.query('COMMIT').finally(() => locker.release());
    },
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
// A sweep deletes the oldest expired rows of every namespace: none left by an earlier test.
beforeEach(() => services.db.query('DELETE FROM cache_entries'));
afterEach(async () => {
  vi.useRealTimers();
  for (const clean of cleanups.splice(0).reverse()) await clean();
});
const fakeClock = () => vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });

describe('startSweeper', () => {
  it('keeps sweeping while batches come back full: 25 expired rows, batches of 10, gone after one tick', async () => {
    const { prefix, start } = await storeWithExpired(25);
    fakeClock();
    const sweeper = start({ intervalMs: 60_000, batchSize: 10 });
    cleanups.push(() => sweeper.stop());
    vi.advanceTimersByTime(60_000); // one tick
    const cleared = await until(async () => (await expiredLeft(prefix)) === 0);
    expect(
      cleared,
      `one tick of the sweeper left ${await expiredLeft(prefix)} of 25 expired rows (batches of 10): while a batch comes back full, there may be more, so sweep again at once rather than at the next tick`,
    ).toBe(true);
  });

  it('never runs two sweeps at once, and stop() waits for the sweep in progress, after which nothing sweeps', async () => {
    const { prefix, start } = await storeWithExpired(5);
    const table = await holdTable();
    cleanups.push(() => table.release());
    fakeClock();
    const sweeper = start({ intervalMs: 1_000, batchSize: 10 });
    cleanups.push(() => sweeper.stop());
    vi.advanceTimersByTime(1_000);
    expect(
      await until(async () => (await table.waiting()) >= 1),
      'one tick after startSweeper({ intervalMs: 1000 }), no sweep reached the table: sweep every intervalMs',
    ).toBe(true);

    vi.advanceTimersByTime(3_000); // three more ticks while the first sweep waits on the table
    await realSleep(300);
    const atOnce = await table.waiting();
    expect(
      atOnce,
      `three ticks while a sweep was still waiting for the table, and ${atOnce} sweeps now wait at once: never start a sweep while the last one runs (each waits for a connection and holds one)`,
    ).toBe(1);

    let stopped = false;
    const stopping = sweeper.stop().then(() => {
      stopped = true;
    });
    await realSleep(300);
    expect(stopped, 'stop() resolved while a sweep was still running: it must wait for the sweep in progress').toBe(
      false,
    );
    await table.release();
    expect(
      await until(async () => stopped),
      'stop() had not resolved 10 s after the sweep it waited for could finish',
    ).toBe(true);
    await stopping;

    await addExpired(prefix, 5, 100);
    vi.advanceTimersByTime(10_000);
    await realSleep(300);
    expect(
      await expiredLeft(prefix),
      'after stop(), ten more intervals went by and a sweep still ran: stop() must stop the timer',
    ).toBe(5);
  });
});
