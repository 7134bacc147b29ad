import type { Pool, PoolClient } from '@cachelab/db';

/**
 * A PostgreSQL lock the test holds in a transaction of its own, so that the statements of the
 * code under test that need it wait, their transactions open, until the test releases it:
 * "two writes at the same moment" becomes a state the test controls instead of a window it
 * hopes to hit with sleeps. PostgreSQL says who waits (`pg_blocking_pids`): no clock decides.
 *
 * Uses one connection of `db` until `release()`; the pool needs more for the code under test.
 */
export interface HeldLock {
  /**
   * Resolves once PostgreSQL reports `waiting` other sessions (default 1) blocked by this lock:
   * from then on the interleaving is fixed. Polls every 10 ms; rejects after `timeoutMs`
   * (default 10,000), a bound for a statement that never comes, not a wait the test relies on.
   */
  blocked(waiting?: number, timeoutMs?: number): Promise<void>;
  /** Commit the holding transaction (the waiting statements go on) and return the connection. Idempotent. */
  release(): Promise<void>;
}

/**
 * A whole table held in SHARE mode: reads go on, every INSERT, UPDATE and DELETE waits. Writers
 * started now all get past whatever they read first and wait at their first write statement;
 * `blocked(n)` resolves once `n` of them wait, and `release()` lets them go together. That is
 * how a test makes "check, then insert" race for real:
 *
 * ```ts
 * const table = await holdTable(services.db, 'cache_entries');
 * const sets = [store.set('k', a, opts), store.set('k', b, opts)];
 * await table.blocked(2);   // both sets are at their write, whatever they checked before
 * await table.release();
 * await Promise.allSettled(sets);
 * ```
 */
export async function holdTable(db: Pool, table: string): Promise<HeldLock> {
  if (!/^[a-z_][a-z0-9_]*$/i.test(table)) {
    throw new TypeError(`holdTable: the table must be a plain identifier, got ${JSON.stringify(table)}.`);
  }
  return hold(db, `table ${table}`, async (locker) => {
    await locker.query(`LOCK TABLE ${table} IN SHARE MODE`);
  });
}

async function hold(db: Pool, what: string, take: (locker: PoolClient) => Promise<void>): Promise<HeldLock> {
  const locker = await db.connect();
  let released = false;
  try {
    await locker.query('BEGIN');
    await take(locker);
  } catch (err) {
    await locker.query('ROLLBACK').catch(() => {});
    locker.release();
    throw err;
  }
  const pid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
  return {
    async blocked(waiting = 1, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { rows } = await db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
          [pid],
        );
        if ((rows[0]?.n ?? 0) >= waiting) return;
        if (Date.now() > deadline) {
          throw new Error(
            `only ${rows[0]?.n ?? 0} of ${waiting} statements reached the lock on ${what} within ${timeoutMs} ms`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async release() {
      if (released) return;
      released = true;
      try {
        await locker.query('COMMIT');
      } finally {
        locker.release();
      }
    },
  };
}
