import { DEPARTMENTS, type Pool } from '@cachelab/db';
import { notFound } from '@cachelab/lesson-01-uncached/problem';
import { z } from 'zod';

/**
 * A department's employees, one page at a time. A department of 1,250 people read 25 at a
 * time is 50 pages, and every page size a client asks for is another 50 or so: far too many
 * keys for a writer to list and delete one by one. That is what versioned keys are for.
 */

export type Department = (typeof DEPARTMENTS)[number];
const byLowerCase = new Map<string, Department>(DEPARTMENTS.map((d) => [d.toLowerCase(), d]));

/**
 * A department in a path (`/departments/sales/employees`), matched without regard to case and
 * returned as spelled in the data (`Sales`): `sales` and `Sales` are one cache key. An unknown
 * department is a 404 (thrown, so never cached).
 */
export function departmentFromPath(raw: string): Department {
  const department = byLowerCase.get(raw.trim().toLowerCase());
  if (!department)
    throw notFound(`There is no department "${raw.slice(0, 64)}". There are: ${DEPARTMENTS.join(', ')}.`);
  return department;
}

/** A department in a body: one of the known ones (any case), or a 400 that lists them. */
export const department = z.string().transform((s, ctx) => {
  const found = byLowerCase.get(s.trim().toLowerCase());
  if (!found) ctx.addIssue({ code: 'custom', message: `must be one of ${DEPARTMENTS.join(', ')}` });
  return found ?? z.NEVER;
});

/** Largest `size`, and the default one. */
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 25;

const wholeNumber = (max: number) =>
  z
    .string()
    .regex(/^\d{1,4}$/, 'must be a positive whole number')
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, `must be between 1 and ${max}`);

/** `?page=&size=`: page 1 to 1000 (default 1), size 1 to 100 (default 25). Bounded, so clients cannot mint endless keys. */
export const pageQuery = z
  .object({
    page: wholeNumber(1000).default(1),
    size: wholeNumber(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  })
  .strict();

export interface DepartmentPage {
  department: Department;
  page: number;
  size: number;
  /** Employees in the department, all pages. */
  total: number;
  pages: number;
  employees: { id: number; name: string; email: string }[];
}

/** One page of `department`'s employees, by name. Past the last page, `employees` is empty. */
export async function listDepartmentPage(
  db: Pool,
  department: Department,
  page: number,
  size: number,
): Promise<DepartmentPage> {
  const { rows } = await db.query<{ id: number; name: string; email: string; total: number }>(
    `SELECT id, name, email, count(*) OVER ()::int AS total
       FROM employees WHERE department = $1
      ORDER BY name, id LIMIT $2 OFFSET $3`,
    [department, size, (page - 1) * size],
  );
  const total =
    rows[0]?.total ??
    (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM employees WHERE department = $1', [department]))
      .rows[0]?.n ??
    0;
  return {
    department,
    page,
    size,
    total,
    pages: Math.ceil(total / size),
    employees: rows.map(({ id, name, email }) => ({ id, name, email })),
  };
}
