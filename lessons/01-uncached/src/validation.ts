import { z } from 'zod';
import { badRequest } from './problem.ts';

/**
 * Input validation, before anything touches the database or (in later lessons) a cache.
 * A bad request must cost nothing and store nothing: it is rejected here with a 400 that
 * names each bad parameter. The parsed values are normalised (trimmed, typed, defaults
 * filled in): later lessons build cache keys from these, never from the raw query string.
 */

/** Largest `limit`: the classic query returns up to 100,000 rows. */
export const MAX_LIMIT = 100_000;
export const DEFAULT_LIMIT = 1_000;
const MAX_INT4 = 2_147_483_647;

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date written YYYY-MM-DD')
  .refine((s) => {
    const d = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
  }, 'is not a real calendar date');

export const employeeId = z
  .string()
  .regex(/^\d{1,10}$/, 'must be a positive whole number')
  .transform(Number)
  .refine((n) => n >= 1 && n <= MAX_INT4, `must be between 1 and ${MAX_INT4}`);

export const investorId = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1–32 letters, digits, _ or -')
  .transform((s) => s.toUpperCase());

export const paymentsQuery = z
  .object({
    investor: investorId,
    from: isoDate,
    to: isoDate,
    limit: z
      .string()
      .regex(/^\d{1,7}$/, 'must be a positive whole number')
      .transform(Number)
      .refine((n) => n >= 1 && n <= MAX_LIMIT, `must be between 1 and ${MAX_LIMIT}`)
      .default(DEFAULT_LIMIT),
  })
  .strict()
  .refine((q) => q.from < q.to, { message: 'must be after `from` (the range is [from, to))', path: ['to'] });

export type PaymentsQuery = z.infer<typeof paymentsQuery>;

/**
 * Parse `input` or throw a 400 problem listing every bad parameter by name.
 * `what` says where the input came from ("query string", "path") for the detail line.
 */
export function parse<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const errors = result.error.issues.map((issue) => {
    const parameter = issue.path.length > 0 ? issue.path.join('.') : (unknownKeys(issue) ?? what);
    const message =
      issue.code === 'invalid_type' && issue.input === undefined
        ? 'is required'
        : issue.code === 'invalid_type'
          ? 'must be given once, as text'
          : issue.code === 'unrecognized_keys'
            ? 'is not a parameter of this endpoint'
            : issue.message;
    return { parameter, message };
  });
  throw badRequest(errors.map((e) => `\`${e.parameter}\` ${e.message}`).join('; ') + '.', errors);
}

function unknownKeys(issue: z.core.$ZodIssue): string | undefined {
  return issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : undefined;
}

/** One to nine digits: always within 1…MAX_INT4 once it is not zero, so `employeeId` accepts it as is. */
const SHORT_DIGITS = /^\d{1,9}$/;

/**
 * `parse(employeeId, raw, 'id')` with a shortcut for the common case, a plain short number
 * ('42'): the same value zod would return, without zod's per-call work (a few µs, which
 * shows on a cache hit that costs ~100 µs). Everything else, every error included, still
 * goes through zod, which stays the one definition of what is valid and of the 400's wording.
 */
export function parseEmployeeId(raw: unknown): number {
  if (typeof raw === 'string' && SHORT_DIGITS.test(raw)) {
    const id = Number(raw);
    if (id >= 1) return id;
  }
  return parse(employeeId, raw, 'id');
}
