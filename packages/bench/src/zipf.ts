/**
 * Request sequences that are the same on every run: which keys a load test asks for, in
 * which order. Two runs (two strategies, two machines, today and next week) then see the
 * same keys, and differ only in what they are meant to compare.
 *
 * - `uniformSequence`: every key equally likely, the worst case for a cache of hot keys.
 * - `zipfSequence`: key popularity follows Zipf's law, as real traffic usually does: the
 *   key of rank r is asked for with probability proportional to 1 / r^s. With s = 1 and
 *   10,000 keys, the top 1% of keys get about half of the requests.
 *
 * Both draw from a seeded generator (mulberry32): the seed, not the clock, decides.
 */

/** A small, fast, seeded PRNG (mulberry32): numbers in [0, 1), the same for the same seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface SequenceOptions {
  /** How many distinct keys there are: the keys are 1..keys. */
  keys: number;
  /** How many requests to generate. */
  count: number;
  /** The seed: the same seed gives the same sequence. Default 1. */
  seed?: number;
}

export interface ZipfOptions extends SequenceOptions {
  /**
   * The skew: probability of rank r ∝ 1 / r^s. 0 is uniform; 1 is classic Zipf (web
   * traffic is usually 0.7–1.2); higher concentrates the traffic on fewer keys. Default 1.
   */
  s?: number;
}

function check(options: SequenceOptions): void {
  for (const name of ['keys', 'count'] as const) {
    const value = options[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new TypeError(`${name} must be a positive whole number, got ${String(value)}.`);
    }
  }
}

/** `count` keys drawn uniformly from 1..keys. */
export function uniformSequence(options: SequenceOptions): number[] {
  check(options);
  const random = mulberry32(options.seed ?? 1);
  return Array.from({ length: options.count }, () => 1 + Math.floor(random() * options.keys));
}

/**
 * `count` keys from 1..keys with Zipf popularity. Rank 1 is the most popular, but ranks
 * are mapped to keys through a seeded shuffle, so the hot keys are scattered (employee 1
 * is not special), as in real data. Sampling is by binary search in the cumulative
 * distribution: O(keys) to build, O(log keys) per request.
 */
export function zipfSequence(options: ZipfOptions): number[] {
  check(options);
  const s = options.s ?? 1;
  if (!Number.isFinite(s) || s < 0) throw new TypeError(`s must be a number ≥ 0, got ${String(s)}.`);
  const { keys, count } = options;
  const random = mulberry32(options.seed ?? 1);

  const cumulative = new Float64Array(keys);
  let total = 0;
  for (let rank = 1; rank <= keys; rank++) {
    total += 1 / rank ** s;
    cumulative[rank - 1] = total;
  }
  // Fisher–Yates with the same generator: rank → key.
  const keyOfRank = Array.from({ length: keys }, (_, i) => i + 1);
  for (let i = keys - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [keyOfRank[i], keyOfRank[j]] = [keyOfRank[j] as number, keyOfRank[i] as number];
  }

  const out = new Array<number>(count);
  for (let n = 0; n < count; n++) {
    const target = random() * total;
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] as number) < target) lo = mid + 1;
      else hi = mid;
    }
    out[n] = keyOfRank[lo] as number;
  }
  return out;
}

export interface SequenceProfile {
  requests: number;
  distinct: number;
  /** Share of the requests that go to the most requested 1% of the keys asked for. */
  top1PercentShare: number;
  /**
   * The best hit ratio any cache can reach on this sequence from cold, if it never evicts
   * or expires: every distinct key misses once, every repeat hits. 1 - distinct / requests.
   */
  coldHitRatioCeiling: number;
}

/** What a sequence looks like to a cache: how many keys, how skewed, the best possible hit ratio. */
export function profileSequence(sequence: readonly number[]): SequenceProfile {
  const counts = new Map<number, number>();
  for (const key of sequence) counts.set(key, (counts.get(key) ?? 0) + 1);
  const sorted = [...counts.values()].sort((a, b) => b - a);
  const top = Math.max(1, Math.round(sorted.length / 100));
  const topRequests = sorted.slice(0, top).reduce((sum, n) => sum + n, 0);
  return {
    requests: sequence.length,
    distinct: counts.size,
    top1PercentShare: sequence.length === 0 ? 0 : topRequests / sequence.length,
    coldHitRatioCeiling: sequence.length === 0 ? 0 : 1 - counts.size / sequence.length,
  };
}
