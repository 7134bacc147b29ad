/**
 * How stale each part of an employee may be when it is served, as the people who use the
 * directory asked for it (see the task README):
 *
 *   a status change (in / out, ~10 times a day)  must be visible within 60 s
 *   a name change   (~once a year)               must be visible within 24 h
 *
 * Changes are written to PostgreSQL by other systems (the badge readers, the HR import):
 * nobody tells the cache, so the TTL alone decides how long an old value can be served.
 *
 * The tests pass smaller budgets (a few seconds) so that they can watch a TTL run out
 * without waiting a minute: derive the TTLs from `budgets`, do not hard-code them.
 */
export interface StalenessBudgets {
  /** A status change must be visible within this many seconds. */
  statusSeconds: number;
  /** A name change must be visible within this many seconds. */
  nameSeconds: number;
}

export const DEFAULT_BUDGETS: StalenessBudgets = { statusSeconds: 60, nameSeconds: 24 * 3600 };

/** Redis TTLs, whole seconds (SET … EX takes whole seconds). */
export interface DirectoryTtls {
  /** For the name, email and department. */
  profileSeconds: number;
  /** For the in / out status. */
  statusSeconds: number;
}

export function ttlsFor(budgets: StalenessBudgets): DirectoryTtls {
  // With Redis as the only cache, a value is served at most TTL seconds after it was loaded,
  // so the oldest answer is TTL old: the budget is the largest TTL allowed. Take all of it:
  // the hit ratio of a key read r times a second is about rT / (1 + rT), so a longer TTL
  // only helps, while the chance that a hit is stale (≈ λT/2 for λ changes a second) stays
  // within what the budget accepts. Floor, because SET … EX takes whole seconds and
  // rounding up would overshoot the budget.
  const statusSeconds = Math.floor(budgets.statusSeconds);
  const profileSeconds = Math.floor(budgets.nameSeconds);
  // A budget under a second floors to 0, and SET … EX keeps nothing for less than a second:
  // no TTL fits it (rounding up to 1 s would break it). Say so when the app is created.
  if (statusSeconds < 1) throw new TypeError(tooShort('statusSeconds', budgets.statusSeconds));
  if (profileSeconds < 1) throw new TypeError(tooShort('nameSeconds', budgets.nameSeconds));
  return { profileSeconds, statusSeconds };
}

const tooShort = (budget: keyof StalenessBudgets, seconds: number) =>
  `ttlsFor: budgets.${budget} is ${seconds} s, but SET … EX keeps a value for whole seconds, at least 1: no TTL fits a budget under a second. Give ${budget} at least 1 s.`;
