import { badRequest } from '@cachelab/lesson-01-uncached/problem';
import { z } from 'zod';

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
 * zod's own messages ("Invalid input: expected string, received undefined") are for
 * developers; a client needs to know whether it forgot the parameter or sent it twice
 * (Express turns `?a=1&a=2` into an array). `otherwise` covers everything else.
 */
const say = (otherwise: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is required' : Array.isArray(issue.input) ? 'must be given once' : otherwise;

// abort: a date that is not a date stops there, so the range check below never compares it
// and adds a second, misleading "`to` must be after `from`".
const date = z.iso.date({ error: say('must be a real date written YYYY-MM-DD'), abort: true });
const wholeNumber = `must be a whole number from 1 to ${MAX_LIMIT}`;
const investorId = 'must be 1–32 letters, digits, _ or -';

const schema = z
  .object({
    // trim + upper case: ' demo_inv' and 'DEMO_INV' are one investor, so they must be one value.
    investor: z
      .string({ error: say(investorId) })
      .trim()
      .regex(/^[A-Za-z0-9_-]{1,32}$/, investorId)
      .transform((s) => s.toUpperCase()),
    // z.iso.date() checks the calendar too: 2024-02-30 and 2023-02-29 fail, 2024-02-29 passes.
    // Kept as the YYYY-MM-DD string: already canonical, and exactly what PostgreSQL expects.
    from: date,
    to: date,
    // Query values are text: checked as text first (z.coerce alone would turn a repeated
    // `limit`, an array, into NaN and call it "not a number"), then "25" coerced to 25 and
    // bounded (LIMIT -1 is a PostgreSQL error, LIMIT 10000000 a denial of service).
    // Missing → the default, so "no limit" and "limit=1000" are the same question.
    limit: z
      .string({ error: say(wholeNumber) })
      .default(String(DEFAULT_LIMIT))
      .pipe(
        z.coerce
          .number<string>({ error: wholeNumber })
          .int(wholeNumber)
          .min(1, wholeNumber)
          .max(MAX_LIMIT, wholeNumber),
      ),
  })
  // Both dates are YYYY-MM-DD, so comparing the strings compares the days.
  .refine((q) => q.from < q.to, { path: ['to'], message: 'must be after `from` (the range is [from, to))' });

/**
 * `query` is Express's `req.query`: each value a string, an array of strings when the
 * parameter is repeated (`?investor=A&investor=B`), or missing.
 */
export function parsePaymentsQuery(query: unknown): PaymentsQuery {
  // safeParse collects every issue, so one 400 tells the client everything to fix.
  const result = schema.safeParse(query);
  if (result.success) return result.data;
  // One entry per parameter (a value can break several rules: report the first).
  const errors: { parameter: string; message: string }[] = [];
  for (const issue of result.error.issues) {
    // Every issue has a parameter: each field's own, and ['to'] for the range check.
    const parameter = String(issue.path[0]);
    if (!errors.some((e) => e.parameter === parameter)) errors.push({ parameter, message: issue.message });
  }
  // A 400 problem (not a 500, not text): the client's mistake, described so it can fix it.
  const sentences = errors.map((e) => `\`${e.parameter}\` ${e.message}`);
  // Stryker disable next-line StringLiteral: the separator and the full stop are typography for people, any is right (the tests check that the detail names each bad parameter)
  throw badRequest(sentences.join('; ') + '.', errors);
}
