import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { decodeEntry } from '@cachelab/lesson-08-stampedes/cache-entry';
import { expectConsistent, hammerEmployeeNames, holdTheStoreOf, useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { useInstances } from './instances.ts';

/**
 * Lesson 08's stale-write race, over HTTP against lesson 10's app. A GET misses and reads the
 * employee's row from PostgreSQL; just before it stores that row in Redis, the test holds its
 * store command (a gate, no sleep) while a PATCH renames the employee and invalidates the
 * cache; then it lets the store go. The order is forced, so the race happens every time.
 */
const services = useServices();
const instance = useInstances(services);
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

const nameIn = (body: Buffer) => (JSON.parse(body.toString()) as { name: string }).name;

async function race(generationGuard: boolean, id: number) {
  const app = await instance('a', { deps: { generationGuard } });
  const parts = { name: 'employee', params: { id } };
  const key = app.locals.cache.key(parts);
  const before = (await getEmployee(services.db, id))?.name as string;
  const renamed = `Renamed During The Load ${id}`;
  const held = holdTheStoreOf(app.redis, key);
  const reading = app.http.get(`/employees/${id}`); // misses, reads the old row, then waits at the gate
  await held.reached;
  const patched = await app.http.request(`/employees/${id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: renamed }),
  });
  expect(patched.status).toBe(200);
  held.release();
  const answered = await reading;
  const stored = await services.redis.getBuffer(key);
  const next = await app.http.get(`/employees/${id}`);
  return { before, renamed, answered, stored, next };
}

describe('a slow GET that read the row before a PATCH (the stale-write race, lesson 08)', () => {
  it('without the generation guard, writes the old row into Redis after the PATCH deleted it', async () => {
    const { before, answered, stored, next } = await race(false, 70);
    expect([answered.cache, answered.json<{ name: string }>().name]).toEqual(['MISS', before]);
    expect(stored, 'this is the race: the old row is back in Redis after the PATCH').not.toBeNull();
    expect(nameIn(decodeEntry(stored as Buffer)?.body as Buffer)).toBe(before);
    expect([next.cache, next.json<{ name: string }>().name], 'every later reader gets the old name').toEqual([
      'HIT',
      before,
    ]);
  });

  it('with the guard (the default), refuses that write: Redis stays empty and the next GET loads the new row', async () => {
    const { before, renamed, answered, stored, next } = await race(true, 71);
    expect(answered.json<{ name: string }>().name, 'the GET that asked before the PATCH gets the row it read').toBe(
      before,
    );
    expect(stored, 'the GET that read the row before the PATCH wrote it into Redis after the PATCH').toBeNull();
    expect([next.cache, next.json<{ name: string }>().name]).toEqual(['MISS', renamed]);
  });
});

describe('under a hammer', () => {
  it('stays consistent: two instances, readers and PATCHes at once, then every key agrees everywhere', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const report = await hammerEmployeeNames({
      instances: [a, b],
      ids: [94, 95, 96, 97],
      db: services.db,
      cached: async (id) => {
        const stored = await services.redis.getBuffer(a.locals.cache.key({ name: 'employee', params: { id } }));
        const entry = stored && decodeEntry(stored);
        return entry ? nameIn(entry.body) : undefined;
      },
    });
    expectConsistent(report);
  });
});
