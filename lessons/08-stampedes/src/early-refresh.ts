/**
 * Probabilistic early refresh, "XFetch" (Vattani, Chierichetti, Lowenstein: "Optimal
 * Probabilistic Cache Stampede Prevention", PVLDB 8(8), 2015).
 *
 * Instead of every reader discovering the expiry at the same instant, each reader of a
 * still-fresh entry rolls a die, and refreshes early when
 *
 *     now − delta · β · ln(rand())  ≥  expiry
 *
 * - `delta` is how long the value took to recompute last time. `ln(rand())` is negative
 *   (rand ∈ (0, 1)), so the left side is `now` plus a random head start that is usually
 *   about `delta · β` and occasionally much more (it is exponentially distributed).
 * - Far from expiry, nobody refreshes. As expiry approaches, the chance grows smoothly;
 *   with many readers one of them refreshes a little before the entry expires, while the
 *   others keep getting hits. The paper shows this exponential shape is the optimal one.
 * - Slow recomputations (large delta) start earlier, because they need more time.
 * - β > 1 favours earlier refreshes, β < 1 later ones; β = 1 is the paper's default.
 *
 * The refresh itself still goes through single-flight and the lease, so when two readers
 * win the roll at once, there is still one load.
 */
export interface EarlyRefreshInput {
  /** The current time, in ms, on the same clock as `expiresAtMs`. */
  nowMs: number;
  /** When the entry stops being fresh, in ms. */
  expiresAtMs: number;
  /** How long the last recomputation took, in ms (0: never refresh early). */
  deltaMs: number;
  /** The paper's β. Default 1; 0 turns early refresh off. */
  beta?: number;
  /** Uniform in [0, 1), like Math.random (the default). Tests inject a fixed one. */
  random?: () => number;
}

export function shouldRefreshEarly(input: EarlyRefreshInput): boolean {
  const { nowMs, expiresAtMs, deltaMs, beta = 1, random = Math.random } = input;
  if (nowMs >= expiresAtMs) return true; // not early any more: it has expired
  if (!(deltaMs > 0 && beta > 0)) return false;
  // Math.random() can return 0, and ln(0) is −∞: that roll simply says "refresh now".
  return nowMs - deltaMs * beta * Math.log(random()) >= expiresAtMs;
}

/**
 * The head start a given roll buys: `−delta · β · ln(rand)`. For the README's table and
 * tests: with rand = 0.5 and β = 1, a reader refreshes once it is within delta · ln 2
 * (about 0.69 · delta) of the expiry.
 */
export function earlyRefreshWindowMs(deltaMs: number, rand: number, beta = 1): number {
  return -deltaMs * beta * Math.log(rand);
}
