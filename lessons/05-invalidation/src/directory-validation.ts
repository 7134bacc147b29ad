import { DEPARTMENTS } from '@cachelab/db';
import { notFound } from '@cachelab/lesson-01-uncached/problem';
import { z } from 'zod';
import type { Department } from './directory-queries.ts';

/**
 * Input of the directory's routes, checked with zod before anything touches PostgreSQL or
 * Redis (lesson 01's rule: bad input costs nothing, stores nothing). Use lesson 01's
 * `parse(schema, input, what)` with these: a failure is a 400 problem+json naming each field.
 */

const byLowerCase = new Map<string, Department>(DEPARTMENTS.map((d) => [d.toLowerCase(), d]));

/**
 * A department in a *path* (`/departments/sales/summary`): matched without regard to case and
 * returned as spelled in the data (`Sales`), so that `sales` and `Sales` are one cache key.
 * An unknown name is a 404: the resource does not exist, the request is not malformed.
 */
export function departmentFromPath(raw: string): Department {
  const department = byLowerCase.get(raw.trim().toLowerCase());
  if (!department)
    throw notFound(`There is no department "${raw.slice(0, 64)}". There are: ${DEPARTMENTS.join(', ')}.`);
  return department;
}

/** A department in a *body*: one of the known ones (any case), or a 400 that lists them. */
const department = z.string().transform((s, ctx) => {
  const found = byLowerCase.get(s.trim().toLowerCase());
  if (!found) ctx.addIssue({ code: 'custom', message: `must be one of ${DEPARTMENTS.join(', ')}` });
  return found ?? z.NEVER;
});

// PostgreSQL text cannot hold NUL, and no name or address needs a control character.
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters
const noControlCharacters = /^[^\u0000-\u001f\u007f]*$/;
const name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .regex(noControlCharacters, 'must not contain control characters');
// Deliberately loose (something@domain.tld): directories seeded before the seed was fixed
// hold addresses such as `niklaus.van rossum.42@example.com`, and a PUT of what a GET
// returned must be accepted (a 400 there would strand the row).
const email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254, 'must be at most 254 characters')
  .regex(noControlCharacters, 'must not contain control characters')
  .regex(/^[^@]+@[^@\s]+\.[^@\s]+$/, 'must be an email address');
const status = z.enum(['in', 'out'], 'must be "in" or "out"');

/** `?page=` of a department's list: 1 to 500, default 1. Bounded, so clients cannot mint endless keys. */
export const pageQuery = z
  .object({
    page: z
      .string()
      .regex(/^\d{1,4}$/, 'must be a positive whole number')
      .transform(Number)
      .refine((n) => n >= 1 && n <= 500, 'must be between 1 and 500')
      .default(1),
  })
  .strict();

/** `POST /employees`: a new employee. `status` defaults to "in". */
export const newEmployee = z.object({ name, email, department, status: status.default('in') }).strict();

/** `PUT /employees/:id`: the whole employee, every field required (a replacement, not a patch). */
export const employeeReplacement = z.object({ name, email, department, status }).strict();

/** `PATCH /employees/:id`: any of the fields, at least one, nothing else. */
export const employeeChanges = z
  .object({
    name: name.optional(),
    email: email.optional(),
    department: department.optional(),
    status: status.optional(),
  })
  .strict()
  .refine((p) => Object.values(p).some((v) => v !== undefined), {
    message: 'must contain at least one of `name`, `email`, `department`, `status`',
  });

export type NewEmployee = z.infer<typeof newEmployee>;
export type EmployeeReplacement = z.infer<typeof employeeReplacement>;
export type EmployeeChanges = z.infer<typeof employeeChanges>;
