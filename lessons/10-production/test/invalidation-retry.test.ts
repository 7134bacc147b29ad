import { whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { redisUrl, startChaosProxy, useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { eventually, type Instance, manualClock, manualTimer, useInstances } from './instances.ts';

/**
 * An open circuit must not skip invalidations. A writer's PATCH while Redis is frozen or down
 * is still sent to Redis; when it fails it is remembered and retried (DEL + generation bump +
 * bus message) before the writer reads L2 again, and every `invalidationRetryMs` in the
 * background, so that the other instances stop serving the old row at most that long after
 * Redis answers again. The breaker's clock and the retry timer are the test's: a cool-down
 * ends and a retry runs when the test says, never after a sleep.
 */
const services = useServices();
const instance = useInstances(services);
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

const THRESHOLD = 3;
const COOL_DOWN_MS = 5_000;
const COMMAND_TIMEOUT_MS = 400;
const RETRY_MS = 1_000;

const rename = (app: Instance, id: number, name: string) =>
  app.http.request(`/employees/${id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
const nameOf = async (app: Instance, id: number) => {
  const res = await app.http.get(`/employees/${id}`);
  expect(res.status).toBe(200);
  return { name: res.json<{ name: string }>().name, cache: res.cache, level: res.headers.get('x-cache-level') };
};

/** A writer behind a chaos proxy (its breaker and retry timer the test's), and a reader. */
async function writerAndReader(readerBehindProxy: boolean) {
  const proxy = await startChaosProxy({ upstream: redisUrl() });
  instance.later(() => proxy.close());
  const clock = manualClock();
  const timer = manualTimer();
  const writer = await instance('writer', {
    redisUrl: proxy.url,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    deps: {
      breaker: { failureThreshold: THRESHOLD, coolDownMs: COOL_DOWN_MS, now: clock.now },
      invalidationRetryMs: RETRY_MS,
      setTimer: timer.setTimer,
    },
  });
  const reader = await instance(
    'reader',
    readerBehindProxy ? { redisUrl: proxy.url, commandTimeoutMs: COMMAND_TIMEOUT_MS } : {},
  );
  return { proxy, clock, timer, writer, reader };
}

/** Both instances hold `id`: in Redis, and the reader in its L1 too. */
async function cached(writer: Instance, reader: Instance, id: number) {
  expect((await nameOf(writer, id)).cache).toBe('MISS');
  const onReader = await nameOf(reader, id);
  expect([onReader.cache, onReader.level]).toEqual(['HIT', 'L2']);
  return onReader.name;
}

let nextId = 300;
async function tripTheBreaker(writer: Instance) {
  for (let i = 0; i < THRESHOLD; i++) expect((await nameOf(writer, nextId++)).cache).toBe('BYPASS');
  expect(writer.locals.cache.circuit).toBe('open');
}

describe('an open circuit does not skip invalidations', () => {
  it('Redis frozen (black hole) trips the breaker; a PATCH meanwhile is still sent, and once Redis answers neither instance serves the old row', async () => {
    const { proxy, clock, timer, writer, reader } = await writerAndReader(true);
    const id = 80;
    const before = await cached(writer, reader, id);
    proxy.blackhole();
    await tripTheBreaker(writer);
    const sentBefore = writer.commands.names.length;
    const patched = await rename(writer, id, 'Renamed While Redis Was Frozen');
    expect(patched.status).toBe(200);
    expect(patched.headers.get('x-cache-invalidation')).toBe('failed');
    expect(
      writer.commands.names.slice(sentBefore),
      'the PATCH did not even try to delete: the open circuit skipped its invalidation',
    ).toEqual(expect.arrayContaining(['multi', 'incr', 'del', 'exec']));
    expect.soft(writer.locals.cache.invalidationsPending, 'the failed invalidations are remembered').toBe(5);

    proxy.restore();
    expect(await whenReady(writer.redis, 5_000)).toBe(true);
    // The writer, circuit still open: from PostgreSQL, the new row.
    expect(await nameOf(writer, id)).toMatchObject({ name: 'Renamed While Redis Was Frozen', cache: 'BYPASS' });
    expect(await timer.fire(), 'a retry was scheduled').toBeGreaterThanOrEqual(1);
    expect(writer.locals.cache.invalidationsPending).toBe(0);
    const onReader = await eventually(
      () => nameOf(reader, id),
      (r) => r.name !== before,
    );
    expect(onReader.name, 'the reader still serves the old row after Redis came back').toBe(
      'Renamed While Redis Was Frozen',
    );
    clock.advance(COOL_DOWN_MS);
    expect((await nameOf(writer, nextId++)).cache, 'the probe').toBe('MISS');
    expect(writer.locals.cache.circuit).toBe('closed');
    expect((await nameOf(writer, id)).name).toBe('Renamed While Redis Was Frozen');
  });

  it('Redis down (cut) for the writer: the failed delete is retried, with the generation bump, before the probe lets the writer read L2', async () => {
    const { proxy, clock, timer, writer, reader } = await writerAndReader(false);
    const id = 81;
    const before = await cached(writer, reader, id);
    const generationKey = writer.locals.cache.generationKey({ name: 'employee', params: { id } });
    proxy.cut();
    await tripTheBreaker(writer);
    expect((await rename(writer, id, 'Renamed While Redis Was Down')).headers.get('x-cache-invalidation')).toBe(
      'failed',
    );
    // Still cut: the background retry fails, and is scheduled again.
    await timer.fire();
    expect.soft(writer.locals.cache.invalidationsPending).toBe(5);
    expect.soft(timer.waiting, 'a failed retry is scheduled again').toBe(1);

    proxy.restore();
    expect(await whenReady(writer.redis, 5_000)).toBe(true);
    clock.advance(COOL_DOWN_MS);
    // The probe (the writer's L1 dropped the key at the PATCH): the pending delete first, then
    // the read from L2. Not the old row that L2 held.
    expect(await nameOf(writer, id)).toEqual({ name: 'Renamed While Redis Was Down', cache: 'MISS', level: null });
    expect(writer.locals.cache.circuit).toBe('closed');
    expect(writer.locals.cache.invalidationsPending).toBe(0);
    expect(Number(await services.redis.get(generationKey)), 'the retry bumped the generation').toBeGreaterThanOrEqual(
      1,
    );
    const onReader = await eventually(
      () => nameOf(reader, id),
      (r) => r.name !== before,
    );
    expect(onReader.name, "the retry's bus message dropped the reader's L1 copy").toBe('Renamed While Redis Was Down');
  });

  it(`the bound: with no request on the writer, its background retry (every ${RETRY_MS} ms) ends the reader's old row once Redis answers`, async () => {
    const { proxy, timer, writer, reader } = await writerAndReader(false);
    const id = 82;
    const before = await cached(writer, reader, id);
    proxy.cut();
    expect((await rename(writer, id, 'Renamed, Retried In The Background')).headers.get('x-cache-invalidation')).toBe(
      'failed',
    );
    expect.soft(timer.delays, 'the retry is scheduled invalidationRetryMs after the failure').toEqual([RETRY_MS]);
    // The window the bound covers: the reader cannot know, and serves its copy until the retry.
    expect((await nameOf(reader, id)).name).toBe(before);
    proxy.restore();
    expect(await whenReady(writer.redis, 5_000)).toBe(true);
    await timer.fire();
    expect.soft(writer.locals.cache.invalidationsPending).toBe(0);
    expect.soft(timer.waiting, 'nothing left to retry').toBe(0);
    const onReader = await eventually(
      () => nameOf(reader, id),
      (r) => r.name !== before,
    );
    expect(onReader).toMatchObject({ name: 'Renamed, Retried In The Background' });
    expect(onReader.level, 'not the old copy, and not an old row put back in Redis').not.toBe('L1');
  });
});
