/**
 * How long each kind of data may be cached, and why. A TTL is not a performance knob
 * first: it is **the longest you accept serving a value after it changed without you being
 * told** (a badge reader writing statuses straight into PostgreSQL, an HR import, a lost
 * invalidation message). Writes that go through this API invalidate at once; the TTL is
 * the bound for all the others. So each kind gets a staleness budget from the people who
 * use the data, and TTLs that fit inside it:
 *
 *   kind        holds                          changes            budget   L2 TTL   L1 TTL   worst case
 *   profile     name, email, department        ~once a year       24 h     12 h     5 min    12 h 5 min
 *   status      in / out                       ~10 times a day    60 s     50 s     10 s     60 s
 *   list        pages of names per department  when anyone's      24 h     1 h      60 s     1 h 1 min
 *               (no status in them)            profile changes
 *   aggregate   in/out counts                  whenever a status  60 s     50 s     10 s     60 s
 *                                              in it changes
 *   report      lesson 01's payments routes    a few times a day  2 min    60 s     10 s     70 s
 *
 * "Worst case" is L2 + L1, not L2: an instance may copy a value from Redis into its L1 a
 * moment before the Redis copy expires, and serve it for a whole L1 TTL after that.
 *
 * A composite inherits the tightest budget of anything in it: a list page with statuses in
 * it would need the status budget, which is why the lists here hold profile fields only.
 *
 * What "fit" means, for a value read r times a second and changed λ times a second
 * (out of band), cached with TTL T (see the README for the derivation and the measurements):
 *   hit ratio            ≈ rT / (1 + rT)                    grows with T
 *   P(a read is stale)   = 1 − (1 − e^(−λT)) / (λT) ≈ λT/2   grows with T
 *   age of a stale read  ≤ T                                 the budget caps T
 * Take the longest T the budget allows when the value is read more often than it changes;
 * past rT ≈ 100 a longer T buys almost nothing (99 % → 99.5 %) and still costs staleness.
 */

export type CacheKind = 'profile' | 'status' | 'list' | 'aggregate' | 'report';
export const CACHE_KINDS: readonly CacheKind[] = ['profile', 'status', 'list', 'aggregate', 'report'];

export interface KindPolicy {
  /** Redis TTL, whole seconds (SET … EX). */
  l2TtlSeconds: number;
  /** In-memory TTL per instance, ms; shorter than the L2 TTL (lesson 04). */
  l1TtlMs: number;
  /** Each instance's L1 budget for this kind, bytes. */
  l1MaxBytes: number;
}

export type TtlPolicy = Record<CacheKind, KindPolicy>;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const MiB = 1024 * 1024;

/** The longest a value of each kind may be served after it changed unseen, in ms. */
export const STALENESS_BUDGET_MS: Readonly<Record<CacheKind, number>> = {
  profile: 24 * HOUR, // "a name change must show within a day"
  status: 60 * SECOND, // "a status change must show within a minute"
  list: 24 * HOUR, // lists hold names only: the name budget
  aggregate: 60 * SECOND, // counts of statuses: the status budget
  report: 2 * MINUTE, // "a new payment shows in the portal within two minutes"
};

export const DEFAULT_TTL_POLICY: TtlPolicy = {
  profile: { l2TtlSeconds: 12 * 3600, l1TtlMs: 5 * MINUTE, l1MaxBytes: 8 * MiB },
  status: { l2TtlSeconds: 50, l1TtlMs: 10 * SECOND, l1MaxBytes: 2 * MiB },
  list: { l2TtlSeconds: 3600, l1TtlMs: 60 * SECOND, l1MaxBytes: 8 * MiB },
  aggregate: { l2TtlSeconds: 50, l1TtlMs: 10 * SECOND, l1MaxBytes: 1 * MiB },
  report: { l2TtlSeconds: 60, l1TtlMs: 10 * SECOND, l1MaxBytes: 64 * MiB },
};

/** How old a value of this kind can be when served: L2 TTL + L1 TTL. */
export const worstCaseAgeMs = (policy: KindPolicy): number => policy.l2TtlSeconds * SECOND + policy.l1TtlMs;

/**
 * The default policy with `overrides` applied (per kind, per field), checked: every kind's
 * worst-case age must fit its staleness budget, or this throws a TypeError that says by how
 * much and what to change. Shorter TTLs are always allowed (tests and the measurement
 * script scale them down).
 */
export function resolveTtlPolicy(overrides: Partial<Record<CacheKind, Partial<KindPolicy>>> = {}): TtlPolicy {
  const policy = {} as TtlPolicy;
  for (const kind of CACHE_KINDS) {
    const p = { ...DEFAULT_TTL_POLICY[kind], ...overrides[kind] };
    const age = worstCaseAgeMs(p);
    if (age > STALENESS_BUDGET_MS[kind]) {
      throw new TypeError(
        `ttls.${kind}: L2 ${p.l2TtlSeconds} s + L1 ${p.l1TtlMs / SECOND} s = ${age / SECOND} s, over the ${kind} staleness budget of ${STALENESS_BUDGET_MS[kind] / SECOND} s. ` +
          'Shorten l2TtlSeconds or l1TtlMs so that their sum fits the budget.',
      );
    }
    policy[kind] = p;
  }
  return policy;
}

/** Expected share of reads served from the cache: r reads/s of one key, TTL T s, reads as a Poisson process. */
export function expectedHitRatio(readsPerSecond: number, ttlSeconds: number): number {
  const n = readsPerSecond * ttlSeconds;
  return n / (1 + n);
}

/**
 * Probability that a read served from the cache is stale, when the value changes λ times a
 * second unseen (no invalidation) and is cached for T s: the entry's age is uniform on
 * [0, T], and it is stale if a change happened since it was filled.
 */
export function staleReadProbability(changesPerSecond: number, ttlSeconds: number): number {
  const x = changesPerSecond * ttlSeconds;
  return x === 0 ? 0 : 1 - (1 - Math.exp(-x)) / x;
}
