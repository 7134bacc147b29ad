import { createGenerations, GENERATION_TTL_MS } from '@cachelab/lesson-04-hierarchical/generation';
import { useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { createLeases } from '../src/lease.ts';

const services = useServices();
beforeEach(() => services.clearRedis());

describe('the lease (SET NX PX, released by a Lua compare-and-delete)', () => {
  it('goes to one caller out of many asking at once', async () => {
    const leases = createLeases(services.redis);
    const key = `${services.prefix}lease:k`;
    const attempts = await Promise.all(Array.from({ length: 50 }, () => leases.acquire(key, 5_000)));
    expect(attempts.filter((a) => a.status === 'acquired')).toHaveLength(1);
    expect(attempts.filter((a) => a.status === 'held')).toHaveLength(49);
  });

  it('expires by itself, so a holder that crashed blocks nobody for longer than its TTL', async () => {
    const leases = createLeases(services.redis);
    const key = `${services.prefix}lease:k`;
    await leases.acquire(key, 5_000);
    const pttl = await services.redis.pttl(key);
    expect(pttl).toBeGreaterThan(4_000);
    expect(pttl).toBeLessThanOrEqual(5_000);
  });

  it('is released only by its holder: a release with another token leaves it in place', async () => {
    const leases = createLeases(services.redis);
    const key = `${services.prefix}lease:k`;
    const first = await leases.acquire(key, 5_000);
    if (first.status !== 'acquired') throw new Error('expected the lease');
    // The first holder was too slow: its lease expired and somebody else took it.
    await services.redis.del(key);
    const second = await leases.acquire(key, 5_000);
    if (second.status !== 'acquired') throw new Error('expected the lease');
    expect(await leases.release(first.lease), "the first holder's late release deleted the second holder's lease").toBe(
      false,
    );
    expect(await services.redis.get(key)).toBe(second.lease.token);
    expect(await leases.release(second.lease)).toBe(true);
    expect(await services.redis.exists(key)).toBe(0);
  });
});

describe('generations (INCR on delete, compare-and-set in Lua)', () => {
  const value = () => `${services.prefix}v`;
  const generation = () => `${services.prefix}generation:v`;

  it('stores a value when no delete happened since the generation was read', async () => {
    const generations = createGenerations(services.redis);
    const seen = await generations.read(generation());
    expect(seen).toBe('0');
    expect(await generations.setIfCurrent(value(), generation(), Buffer.from('new'), 60_000, seen as string)).toBe(
      'stored',
    );
    expect(await services.redis.get(value())).toBe('new');
    expect(await services.redis.pttl(value())).toBeGreaterThan(59_000);
  });

  it('refuses the write of a load that started before a delete', async () => {
    const generations = createGenerations(services.redis);
    await services.redis.set(value(), 'cached');
    const seen = (await generations.read(generation())) as string;
    expect(await generations.invalidate(value(), generation())).toBe(true);
    expect(await services.redis.exists(value()), 'the delete did not remove the value').toBe(0);
    expect(await generations.setIfCurrent(value(), generation(), Buffer.from('old'), 60_000, seen)).toBe('refused');
    expect(await services.redis.exists(value())).toBe(0);
    // A load that starts after the delete reads the new generation and may write.
    const now = (await generations.read(generation())) as string;
    expect(now).toBe('1');
    expect(await generations.setIfCurrent(value(), generation(), Buffer.from('new'), 60_000, now)).toBe('stored');
  });

  it('keeps the generation counter for a day, far longer than any load', async () => {
    const generations = createGenerations(services.redis);
    await generations.invalidate(value(), generation());
    expect(await services.redis.pttl(generation())).toBeGreaterThan(GENERATION_TTL_MS - 60_000);
  });
});
