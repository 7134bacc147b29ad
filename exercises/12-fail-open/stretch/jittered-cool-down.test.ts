import { describe, expect, it } from 'vitest';
import { createCircuitBreaker } from '../src/circuit-breaker.ts';

/**
 * The stretch goal of exercise 12 (README), its first question made testable: a jittered
 * cool-down, so that 20 instances whose breakers opened together do not all probe a recovering
 * Redis at the same moment. The breaker takes `jitter` (a fraction, default 0: no jitter) and
 * `random` (default Math.random) in its options, and each time it opens it stays open
 * `coolDownMs × (1 + jitter × random())`. (`npx cachelab verify 12 --stretch`)
 */

/** A breaker that opens at the first failure, on a test clock, with these rolls of the die. */
function breaker(rolls: number[], jitter = 0.5) {
  const t = { now: 0 };
  const queue = [...rolls];
  const options = {
    failureThreshold: 1,
    coolDownMs: 1_000,
    now: () => t.now,
    jitter,
    random: () => queue.shift() ?? 0,
  };
  return { t, b: createCircuitBreaker(options) };
}

/** The first ms (from `from`, by 1 ms steps) at which allow() says yes. */
function firstAllowed(b: ReturnType<typeof breaker>, from: number, to: number): number | undefined {
  for (let ms = from; ms <= to; ms++) {
    b.t.now = ms;
    if (b.b.allow()) return ms;
  }
  return undefined;
}

describe('a jittered cool-down: coolDownMs × (1 + jitter × random())', () => {
  it('stays open 1,250 ms with coolDownMs 1,000, jitter 0.5 and random() = 0.5', () => {
    const one = breaker([0.5]);
    one.b.failure(); // opens at 0
    const at = firstAllowed(one, 1, 2_000);
    expect(
      at,
      `with coolDownMs 1000, jitter 0.5 and random() = 0.5 the breaker let a probe through at ${at} ms: it should stay open 1000 × (1 + 0.5 × 0.5) = 1250 ms (draw the jitter when it opens)`,
    ).toBe(1_250);
  });

  it('draws again at every opening: a failed probe opens it for a new jittered cool-down', () => {
    // Rolls that are exact in binary: any way of writing the formula gives the same ms.
    const one = breaker([0.25, 0.75]);
    one.b.failure(); // opens at 0 for 1,125 ms
    expect(firstAllowed(one, 1, 2_000), 'the first cool-down, 1000 × (1 + 0.5 × 0.25)').toBe(1_125);
    one.b.failure(); // the probe failed at 1,125: open for 1,375 ms
    const at = firstAllowed(one, 1_126, 4_000);
    expect(
      at,
      `after the probe failed at 1125 ms with random() = 0.75 next, the breaker let the next probe through at ${at} ms: it should stay open 1000 × (1 + 0.5 × 0.75) = 1375 ms from the failure, so 2500 ms`,
    ).toBe(2_500);
  });

  it('spreads instances that opened together, and without jitter keeps the exact cool-down', () => {
    const probes = [0, 0.25, 0.5, 0.75, 0.99].map((roll) => {
      const one = breaker([roll]);
      one.b.failure();
      return firstAllowed(one, 1, 3_000);
    });
    expect(
      new Set(probes).size,
      `five breakers that opened at the same moment, with different rolls, probe at ${JSON.stringify(probes)} ms: each should wait its own jittered cool-down`,
    ).toBe(5);
    const plain = breaker([0.9], 0);
    plain.b.failure();
    expect(firstAllowed(plain, 1, 3_000), 'jitter 0 (the default): exactly coolDownMs').toBe(1_000);
  });
});
