/**
 * The query string of GET /payments, checked and normalised in one place, before the
 * handler does anything else. Lesson 02 onwards builds cache keys from what this returns,
 * never from the raw query string.
 */

/** The most rows one request may ask for. */
export const MAX_LIMIT = 100_000;
/** The number of rows when the client gives no `limit`. */
export const DEFAULT_LIMIT = 1_000;

/** A valid query, normalised: the same question always comes out as the same values. */
export interface PaymentsQuery {
  /** 1–32 letters, digits, `_` or `-`, in upper case: `demo_inv` is `DEMO_INV`. */
  investor: string;
  /** First day, included: a real calendar date written YYYY-MM-DD. */
  from: string;
  /** Day after the last, excluded: a real date written YYYY-MM-DD, after `from`. */
  to: string;
  /** A whole number from 1 to MAX_LIMIT; DEFAULT_LIMIT when missing. */
  limit: number;
}

/**
 * `query` is Express's `req.query`: each value a string, an array of strings when the
 * parameter is repeated (`?investor=A&investor=B`), or missing.
 */
export function parsePaymentsQuery(query: unknown): PaymentsQuery {
  // TODO: check `query` against the rules above with a zod schema, and return its normalised output.
  // TODO: when a rule is broken, throw a 400 problem that names every bad parameter
  //       (`badRequest(detail, errors)` from '@cachelab/lesson-01-uncached/problem').
  return query as PaymentsQuery;
}
