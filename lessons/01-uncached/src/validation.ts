import { z } from 'zod';
import { badRequest, type Problem } from './problem.ts';

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
 *
 * Two checks come before the schema's own rules, for every schema:
 * - a parameter given twice (`?limit=1&limit=2`, which Express reads as an array) is
 *   reported as given more than once, not as the wrong type;
 * - text that is not valid Unicode (a lone UTF-16 surrogate such as `"\ud800"`, which JSON
 *   allows) is rejected, naming the field: PostgreSQL would store U+FFFD in its place, and
 *   the cache would hold a value the database does not.
 */
export function parse<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const notText = invalidUnicode(input, [], what);
  const result = schema.safeParse(input);
  if (result.success && notText.length === 0) return result.data;
  const errors = [...notText];
  for (const issue of result.success ? [] : result.error.issues) {
    const parameter = issue.path.length > 0 ? issue.path.join('.') : (unknownKeys(issue) ?? what);
    if (notText.some((e) => e.parameter === parameter)) continue; // already named, for its text
    errors.push({ parameter, message: messageOf(issue, valueAt(input, issue.path)) });
  }
  throw badRequest(errors.map((e) => `\`${e.parameter}\` ${e.message}`).join('; ') + '.', errors);
}

/**
 * The message of one issue. zod 4 does not keep the value in its issues, so `given` is
 * looked up in the input by the issue's path: undefined is a missing parameter, an array a
 * repeated one (Express's query parser turns `?a=1&a=2` into ['1', '2']).
 */
function messageOf(issue: z.core.$ZodIssue, given: unknown): string {
  if (issue.code === 'unrecognized_keys') return 'is not a parameter of this endpoint';
  if (issue.code !== 'invalid_type') return issue.message;
  if (given === undefined) return 'is required';
  if (Array.isArray(given) && issue.expected !== 'array') return 'was given more than once: give it once';
  return issue.expected === 'string'
    ? 'must be text'
    : issue.expected === 'object'
      ? 'must be a JSON object'
      : `must be of type ${issue.expected}`;
}

/** The value at `path` inside `input`, or undefined. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** A UTF-16 code unit of a surrogate pair, alone: with the `u` flag, a paired one is part of one code point. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Every string in `input` (nested objects and arrays too) that is not valid Unicode, by parameter. */
function invalidUnicode(input: unknown, path: PropertyKey[], what: string, depth = 0): Problem['errors'] & {} {
  if (typeof input === 'string') {
    const lone = LONE_SURROGATE.exec(input)?.[0];
    if (lone === undefined) return [];
    const unit = `U+${lone.charCodeAt(0).toString(16).toUpperCase()}`;
    return [
      {
        parameter: path.length > 0 ? path.join('.') : what,
        message: `is not valid Unicode text: it contains a lone surrogate (${unit}) without its pair`,
      },
    ];
  }
  if (input === null || typeof input !== 'object' || depth > 32) return [];
  return Object.entries(input).flatMap(([key, value]) => invalidUnicode(value, [...path, key], what, depth + 1));
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
