import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { holdTheStoreOf, useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { patchEmployee } from '../src/employee-writes.ts';
import { eventually, parts, send, useInstances } from './instances.ts';

const services = useServices();
const instance = useInstances(services);

beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

/**
 * Hold a row with `SELECT … FOR UPDATE` in a transaction of the test's own, so that a write
 * to it waits, with its transaction open, until `release()`. `waitForWriter()` resolves once
 * PostgreSQL reports another backend blocked by ours: from then on the interleaving is fixed.
 */
async function holdRow(id: number) {
  const locker = await services.db.connect();
  await locker.query('BEGIN');
  await locker.query('SELECT 1 FROM employees WHERE id = $1 FOR UPDATE', [id]);
  const pid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
  return {
    async waitForWriter() {
      const blocked = await eventually(
        async () =>
          (
            await services.db.query<{ n: number }>(
              'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
              [pid],
            )
          ).rows[0]?.n,
        (n) => n === 1,
        5_000,
      );
      expect(blocked, 'the write never reached the row').toBe(1);
    },
    async release() {
      await locker.query('COMMIT');
      locker.release();
    },
  };
}

const flip = (status: string) => (status === 'in' ? 'out' : 'in');
type Body = { status: string };

describe('the write race: invalidate after the commit, never before', () => {
  it('deleting before the commit loses: a reader re-fills the old status in between, and it stays cached', async () => {
    const { http, locals } = await instance('a');
    const id = 80;
    const old = (await http.get(`/employees/${id}`)).json<Body>().status;
    const row = await holdRow(id);

    // The wrong order: drop the cached copy first, then write.
    await locals.caches.status.delete(locals.keys.status(id));
    const write = patchEmployee(services.db, id, { status: flip(old) });
    await row.waitForWriter(); // the write's transaction is open and waiting

    // A reader on another connection, in the window: the cache is empty, PostgreSQL still has the old row.
    const during = await http.get(`/employees/${id}`);
    expect(parts(during)).toBe('profile=L1, status=MISS');
    expect(during.json<Body>().status).toBe(old);

    await row.release();
    await write; // committed
    expect((await getEmployee(services.db, id))?.status).toBe(flip(old));

    const after = await http.get(`/employees/${id}`);
    expect(after.cache).toBe('HIT');
    // This is the bug the lesson is about: nobody invalidates after the commit.
    expect(after.json<Body>().status, 'the old status should be stuck in the cache (the race this test shows)').toBe(
      old,
    );
    expect(await services.redis.pttl(locals.keys.status(id)), 'stuck until its TTL runs out').toBeGreaterThan(40_000);
  });

  it('deleting after the commit wins: the same reader, through PATCH, cannot leave the old status behind', async () => {
    const { http, locals } = await instance('a');
    const id = 81;
    const old = (await http.get(`/employees/${id}`)).json<Body>().status;
    await locals.caches.status.delete(locals.keys.status(id)); // the same empty cache as above
    const row = await holdRow(id);

    const write = send(http, 'PATCH', `/employees/${id}`, { status: flip(old) });
    await row.waitForWriter();
    const during = await http.get(`/employees/${id}`);
    expect(parts(during)).toBe('profile=L1, status=MISS');
    expect(during.json<Body>().status, 'before the commit the old status is the right answer').toBe(old);

    await row.release();
    expect((await write).status).toBe(200); // committed, then invalidated
    const after = await http.get(`/employees/${id}`);
    expect(parts(after)).toBe('profile=L1, status=MISS');
    expect(after.json<Body>().status).toBe(flip(old));
  });

  it('a read that hits the cache during the write is served the old value, and the commit replaces it', async () => {
    const { http } = await instance('a');
    const id = 82;
    const old = (await http.get(`/employees/${id}`)).json<Body>().status;
    const row = await holdRow(id);
    const write = send(http, 'PATCH', `/employees/${id}`, { status: flip(old) });
    await row.waitForWriter();
    expect((await http.get(`/employees/${id}`)).json<Body>().status).toBe(old);
    await row.release();
    await write;
    expect((await http.get(`/employees/${id}`)).json<Body>().status).toBe(flip(old));
  });
});

describe('the stale-set race: a read that loaded the old row stores it after the write invalidated', () => {
  /**
   * b misses the profile, loads the old row, and the test holds its store (a gate, no sleep)
   * while a writes through the API; then the store goes. Without lesson 04's generation
   * guard the old profile would be back in Redis for its whole TTL (12 hours).
   */
  async function race(id: number, write: (a: Awaited<ReturnType<typeof instance>>) => Promise<number>) {
    const a = await instance('a');
    const b = await instance('b');
    const key = a.locals.keys.profile(id);
    const before = (await a.http.get(`/employees/${id}`)).json<{ name: string }>();
    await services.redis.del(key); // b must load the profile itself
    const held = holdTheStoreOf(b.redis, key);
    const reading = b.http.get(`/employees/${id}`);
    await held.reached;
    expect(await write(a), 'the write itself').toBeLessThan(300);
    held.release();
    const answered = await reading;
    return { a, b, key, before, answered };
  }

  it('a PATCH that overtakes a load: the old profile is not stored, both instances read the new name at once', async () => {
    const renamed = 'Renamed During The Load';
    const { a, b, key, before, answered } = await race(
      83,
      async (a) => (await send(a.http, 'PATCH', '/employees/83', { name: renamed })).status,
    );
    expect(answered.json<{ name: string }>().name, 'the GET began before the PATCH').toBe(before.name);
    expect(
      await services.redis.getBuffer(key),
      'the old profile was stored after the PATCH invalidated it: it would be served for 12 hours',
    ).toBeNull();
    for (const [name, http] of [
      ['a', a.http],
      ['b', b.http],
    ] as const)
      expect((await http.get('/employees/83')).json<{ name: string }>().name, `instance ${name}`).toBe(renamed);
  });

  it('a DELETE that overtakes a load: the employee is not stored again, both instances answer 404 at once', async () => {
    const { a, b, key } = await race(84, async (a) => (await send(a.http, 'DELETE', '/employees/84')).status);
    expect(await services.redis.getBuffer(key), 'a deleted employee was cached again after the DELETE').toBeNull();
    expect((await a.http.get('/employees/84')).status, 'instance a').toBe(404);
    expect((await b.http.get('/employees/84')).status, 'instance b').toBe(404);
  });
});
