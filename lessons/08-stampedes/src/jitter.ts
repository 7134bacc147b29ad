/**
 * TTL jitter: store each entry for a slightly different time, so that entries written
 * together do not all expire together.
 *
 * Entries are often written in a burst: a deploy warms the cache, a report page loads 50
 * keys at once, a nightly job fills every investor's summary. With one fixed TTL they all
 * expire in the same second, and every one of them misses at once: a synchronised stampede
 * across many keys, which single-flight (one load per key) does not prevent. Jitter spreads
 * those expiries over a window, so the reloads trickle in.
 *
 * `jitterTtl(60_000, { spread: 0.1 })` is a whole number of ms in [54_000, 60_000]: up to
 * 10 % shorter, never longer, so the TTL you configured stays the upper bound on staleness.
 */
export interface JitterOptions {
  /**
   * The largest fraction taken off the TTL, from 0 (no jitter) to below 1. Default 0.1.
   * 0.1 spreads a burst of one-minute entries over six seconds.
   */
  spread?: number;
  /** Uniform in [0, 1), like Math.random (the default). Tests inject a fixed one. */
  random?: () => number;
}

export const DEFAULT_JITTER_SPREAD = 0.1;

export function jitterTtl(ttlMs: number, options: JitterOptions = {}): number {
  const { spread = DEFAULT_JITTER_SPREAD, random = Math.random } = options;
  if (!(Number.isFinite(ttlMs) && ttlMs > 0)) {
    throw new TypeError(`jitterTtl: ttlMs must be a positive number of milliseconds, got ${String(ttlMs)}.`);
  }
  if (!(spread >= 0 && spread < 1)) {
    throw new TypeError(
      `jitterTtl: spread must be a fraction from 0 (no jitter) up to, not including, 1, e.g. 0.1; got ${String(spread)}.`,
    );
  }
  // At least 1 ms: a TTL of 0 means "no expiry" to some stores and "expire now" to others.
  return Math.max(1, Math.round(ttlMs * (1 - spread * random())));
}
