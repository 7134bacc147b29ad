import { useServices } from '@cachelab/testkit';
import { describe, expect, it } from 'vitest';
import { createDeptVersions } from '../src/dept-version.ts';
import { directoryKeys } from '../src/keys.ts';
import { createTagIndex } from '../src/tags.ts';
import { expectedHitRatio, resolveTtlPolicy, staleReadProbability, worstCaseAgeMs } from '../src/ttl-policy.ts';

const services = useServices();

describe('createDeptVersions (real Redis)', () => {
  it('creates a missing version from the clock, then moves it by one per bump, per department', async () => {
    const keys = directoryKeys(`${services.prefix}v:`);
    let now = 1_700_000_000_000;
    const versions = createDeptVersions({ redis: services.redis, keys, now: () => now });
    expect(await versions.current('Sales')).toEqual({ status: 'ok', version: 1_700_000_000_000 });
    now += 5;
    expect(await versions.current('Sales'), 'an existing version is kept').toEqual({
      status: 'ok',
      version: 1_700_000_000_000,
    });
    expect(await versions.bump(['Sales', 'Legal', 'Sales'])).toBe(true);
    expect(await versions.current('Sales')).toEqual({ status: 'ok', version: 1_700_000_000_001 });
    expect(await versions.current('Legal'), 'a bump of a missing version starts from the clock, not 1').toEqual({
      status: 'ok',
      version: 1_700_000_000_006,
    });
    expect(await services.redis.pttl(keys.deptVersion('Sales')), 'version keys have no TTL').toBe(-1);
  });
});

describe('createTagIndex (real Redis)', () => {
  it('takes every key of several tags at once, each once, and the sets with them', async () => {
    const p = `${services.prefix}t:`;
    const tags = createTagIndex({ redis: services.redis, ttlSeconds: 30 });
    expect(await tags.add(`${p}a`, [`${p}tag1`, `${p}tag2`])).toBe(true);
    expect(await tags.add(`${p}b`, [`${p}tag2`])).toBe(true);
    expect(await services.redis.pttl(`${p}tag1`)).toBeGreaterThan(29_000);
    const taken = await tags.take([`${p}tag1`, `${p}tag2`]);
    expect(taken.ok).toBe(true);
    expect(taken.keys.sort()).toEqual([`${p}a`, `${p}b`]);
    expect(await services.redis.exists(`${p}tag1`, `${p}tag2`)).toBe(0);
    expect(await tags.take([`${p}tag1`])).toEqual({ ok: true, keys: [] });
  });

  it('refuses a TTL that is not a whole number of seconds', () => {
    expect(() => createTagIndex({ redis: services.redis, ttlSeconds: 0.5 })).toThrow(/ttlSeconds/);
  });
});

describe('the TTL arithmetic', () => {
  it('keeps every default kind within its staleness budget', () => {
    const policy = resolveTtlPolicy();
    expect(worstCaseAgeMs(policy.status)).toBe(60_000);
    expect(worstCaseAgeMs(policy.profile)).toBeLessThanOrEqual(24 * 3600_000);
  });

  it('gives the textbook values: rT/(1+rT) and ≈ λT/2 for small λT', () => {
    expect(expectedHitRatio(1, 9)).toBeCloseTo(0.9);
    const tenADay = 10 / 86_400;
    expect(staleReadProbability(tenADay, 60)).toBeCloseTo((tenADay * 60) / 2, 4);
    expect(staleReadProbability(0, 60)).toBe(0);
  });
});
