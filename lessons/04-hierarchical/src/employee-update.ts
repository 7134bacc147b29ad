import type { Pool } from '@cachelab/db';
import type { Employee } from '@cachelab/lesson-01-uncached/queries';
import { z } from 'zod';

/**
 * The first write in the workshop: `PATCH /employees/:id` with `{ name?, status? }`.
 * A write is what makes cached copies wrong, so it is what this lesson's invalidation is for.
 */

/** The body of a PATCH: at least one of `name` and `status`, nothing else. */
export const employeePatch = z
  .object({
    name: z
      .string()
      .trim()
      .min(1, 'must not be empty')
      .max(200, 'must be at most 200 characters')
      // PostgreSQL text cannot hold NUL, and no name needs a control character.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters
      .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters')
      .optional(),
    status: z.enum(['in', 'out'], 'must be "in" or "out"').optional(),
  })
  .strict()
  .refine((p) => p.name !== undefined || p.status !== undefined, {
    message: 'must contain `name`, `status` or both',
  });

export type EmployeePatch = z.infer<typeof employeePatch>;

/**
 * Apply `patch` in one statement and return the row as it is now, or undefined when there
 * is no such employee. One statement in autocommit mode: when the promise resolves, the
 * change is committed and visible to every other connection, which is the moment a
 * cache may be invalidated (not before: see the lesson's pitfalls).
 */
export async function updateEmployee(db: Pool, id: number, patch: EmployeePatch): Promise<Employee | undefined> {
  const { rows } = await db.query<Employee>(
    `UPDATE employees
        SET name = coalesce($2, name),
            status = coalesce($3, status),
            status_updated_at = CASE WHEN $3::text IS NOT NULL AND $3 <> status THEN now() ELSE status_updated_at END,
            updated_at = now()
      WHERE id = $1
  RETURNING id, name, email, department, status, status_updated_at, updated_at`,
    [id, patch.name ?? null, patch.status ?? null],
  );
  return rows[0];
}
