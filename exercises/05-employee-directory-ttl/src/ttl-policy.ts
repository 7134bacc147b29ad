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

export function ttlsFor(_budgets: StalenessBudgets): DirectoryTtls {
  // TODO: give each part a TTL that fits its budget, and is as long as that budget allows.
  // A budget that no whole-second TTL fits (under 1 s) is a TypeError that names it.
  return { profileSeconds: 3600, statusSeconds: 3600 };
}
