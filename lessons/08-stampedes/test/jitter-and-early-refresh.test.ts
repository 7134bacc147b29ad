import { describe, expect, it } from 'vitest';
import { earlyRefreshWindowMs, shouldRefreshEarly } from '../src/early-refresh.ts';
import { jitterTtl } from '../src/jitter.ts';

describe('TTL jitter', () => {
  it('takes up to `spread` off the TTL, never adds to it', () => {
    expect(jitterTtl(60_000, { spread: 0.1, random: () => 0 })).toBe(60_000);
    expect(jitterTtl(60_000, { spread: 0.1, random: () => 0.5 })).toBe(57_000);
    expect(jitterTtl(60_000, { spread: 0.1, random: () => 0.999_999 })).toBe(54_000);
  });

  it('spreads 1,000 entries written in the same second over the whole window', () => {
    const ttls = Array.from({ length: 1000 }, () => jitterTtl(60_000, { spread: 0.1 }));
    expect(Math.min(...ttls)).toBeGreaterThanOrEqual(54_000);
    expect(Math.max(...ttls)).toBeLessThanOrEqual(60_000);
    // Expiries by second: with no jitter all 1,000 fall in one second; here in about six.
    const seconds = new Set(ttls.map((t) => Math.floor(t / 1000)));
    expect(seconds.size).toBeGreaterThanOrEqual(6);
  });

  it('refuses a spread outside [0, 1) and a TTL that is not positive, naming the option', () => {
    expect(() => jitterTtl(60_000, { spread: 1 })).toThrow(/spread/);
    expect(() => jitterTtl(0)).toThrow(/ttlMs/);
  });
});

describe('XFetch early refresh', () => {
  const base = { expiresAtMs: 100_000, deltaMs: 1_000, beta: 1 };

  it('refreshes when now − delta·β·ln(rand) reaches the expiry, and not before', () => {
    // rand = 0.5: the head start is delta · ln 2 ≈ 693 ms.
    const window = earlyRefreshWindowMs(1_000, 0.5);
    expect(window).toBeCloseTo(693.1, 1);
    const random = () => 0.5;
    expect(shouldRefreshEarly({ ...base, nowMs: 100_000 - 694, random })).toBe(false);
    expect(shouldRefreshEarly({ ...base, nowMs: 100_000 - 693, random })).toBe(true);
  });

  it('never refreshes far from expiry with an ordinary roll, and always once expired', () => {
    expect(shouldRefreshEarly({ ...base, nowMs: 50_000, random: () => 0.01 })).toBe(false); // head start 4.6 s
    expect(shouldRefreshEarly({ ...base, nowMs: 100_000, random: () => 0.999 })).toBe(true);
  });

  it('starts earlier for slower recomputations and for a larger β', () => {
    const at = { nowMs: 97_000, expiresAtMs: 100_000, random: () => 0.2 }; // ln 0.2 ≈ −1.61
    expect(shouldRefreshEarly({ ...at, deltaMs: 1_000 })).toBe(false); // 1.6 s head start
    expect(shouldRefreshEarly({ ...at, deltaMs: 2_000 })).toBe(true); // 3.2 s
    expect(shouldRefreshEarly({ ...at, deltaMs: 1_000, beta: 2 })).toBe(true);
  });

  it('is off with β = 0 or an unknown recompute time', () => {
    expect(shouldRefreshEarly({ ...base, nowMs: 99_999, beta: 0, random: () => 0.000_001 })).toBe(false);
    expect(shouldRefreshEarly({ ...base, nowMs: 99_999, deltaMs: 0, random: () => 0.000_001 })).toBe(false);
  });

  it('grows more likely as the expiry approaches (10,000 rolls at each distance)', () => {
    const share = (msBeforeExpiry: number) => {
      let yes = 0;
      for (let i = 0; i < 10_000; i++) {
        if (shouldRefreshEarly({ ...base, nowMs: base.expiresAtMs - msBeforeExpiry })) yes++;
      }
      return yes / 10_000;
    };
    const far = share(3_000); // e^−3 ≈ 5 %
    const near = share(500); // e^−0.5 ≈ 61 %
    expect(far).toBeGreaterThan(0.02);
    expect(far).toBeLessThan(0.09);
    expect(near).toBeGreaterThan(0.55);
    expect(near).toBeLessThan(0.67);
  });
});
