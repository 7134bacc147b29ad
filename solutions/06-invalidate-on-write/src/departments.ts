import { DEPARTMENTS, type Pool } from '@cachelab/db';
import { notFound } from '@cachelab/lesson-01-uncached/problem';
import { z } from 'zod';

/**
 * The two department reads this exercise caches. Both are derived from many employee rows,
 * which is what makes them interesting to invalidate: a write to ONE employee changes them.
 */

export type Department = (typeof DEPARTMENTS)[number];
const byLowerCase = new Map<string, Department>(DEPARTMENTS.map((d) => [d.toLowerCase(), d]));

/**
 * A department in a path (`/departments/sales/summary`), matched without regard to case and
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

export interface DepartmentEmployees {
  department: Department;
  total: number;
  /** Everyone in the department, by name. */
  employees: { id: number; name: string; email: string; status: 'in' | 'out' }[];
}

export interface DepartmentSummary {
  department: Department;
  /** How many people work there, and how many of them are in or out right now. */
  employees: number;
  in: number;
  out: number;
}

/** Everyone in `department`, by name. */
export async function listDepartmentEmployees(db: Pool, department: Department): Promise<DepartmentEmployees> {
  const { rows } = await db.query<DepartmentEmployees['employees'][number]>(
    'SELECT id, name, email, status FROM employees WHERE department = $1 ORDER BY name, id',
    [department],
  );
  return { department, total: rows.length, employees: rows };
}

/** Head counts of `department`: everyone, in, out. */
export async function departmentSummary(db: Pool, department: Department): Promise<DepartmentSummary> {
  const { rows } = await db.query<Omit<DepartmentSummary, 'department'>>(
    `SELECT count(*)::int AS employees,
            count(*) FILTER (WHERE status = 'in')::int AS "in",
            count(*) FILTER (WHERE status = 'out')::int AS "out"
       FROM employees WHERE department = $1`,
    [department],
  );
  return { department, ...(rows[0] ?? { employees: 0, in: 0, out: 0 }) };
}
