import type { DEPARTMENTS, Pool } from '@cachelab/db';
import type { Employee } from '@cachelab/lesson-01-uncached/queries';

/**
 * The reads of the employee directory, split by **how often each part changes**, because
 * each part is cached with its own TTL:
 *
 * - the *profile* (name, email, department) changes about once a year per employee;
 * - the *status* (in / out) changes about ten times a day per employee.
 *
 * `GET /employees/:id` composes the two into lesson 01's `Employee`, field for field. In
 * this lesson `updated_at` means "the profile last changed"; a status change moves
 * `status_updated_at` only (lesson 04's PATCH moved both).
 *
 * Nothing here knows about HTTP or caches. Every function is one statement.
 */

export type Department = (typeof DEPARTMENTS)[number];

export interface EmployeeProfile {
  id: number;
  name: string;
  email: string;
  department: Department;
  updated_at: string;
}

export interface EmployeeStatus {
  id: number;
  status: 'in' | 'out';
  status_updated_at: string;
}

/** Rows per page of a department's list. Fixed, so that there are few keys to invalidate. */
export const PAGE_SIZE = 50;

export interface DepartmentPage {
  department: Department;
  page: number;
  pageSize: number;
  /** Employees in the department, all pages. */
  total: number;
  pages: number;
  /** Profile fields only: no status, so a status change does not make a page stale. */
  employees: { id: number; name: string; email: string }[];
}

export interface DepartmentCounts {
  department: Department;
  employees: number;
  in: number;
  out: number;
}

export interface DepartmentsOverview {
  employees: number;
  in: number;
  out: number;
  departments: DepartmentCounts[];
}

export async function getProfile(db: Pool, id: number): Promise<EmployeeProfile | undefined> {
  const { rows } = await db.query<EmployeeProfile>(
    'SELECT id, name, email, department, updated_at FROM employees WHERE id = $1',
    [id],
  );
  return rows[0];
}

export async function getStatus(db: Pool, id: number): Promise<EmployeeStatus | undefined> {
  const { rows } = await db.query<EmployeeStatus>('SELECT id, status, status_updated_at FROM employees WHERE id = $1', [
    id,
  ]);
  return rows[0];
}

/** The two parts back together, in lesson 01's field order. */
export function composeEmployee(profile: EmployeeProfile, status: EmployeeStatus): Employee {
  return {
    id: profile.id,
    name: profile.name,
    email: profile.email,
    department: profile.department,
    status: status.status,
    status_updated_at: status.status_updated_at,
    updated_at: profile.updated_at,
  };
}

/** One page of a department's employees, by name. `page` is 1-based; past the end it is empty. */
export async function listDepartmentPage(db: Pool, department: Department, page: number): Promise<DepartmentPage> {
  const { rows } = await db.query<{ id: number; name: string; email: string; total: number }>(
    `SELECT id, name, email, count(*) OVER ()::int AS total
       FROM employees
      WHERE department = $1
      ORDER BY name, id
      LIMIT $2 OFFSET $3`,
    [department, PAGE_SIZE, (page - 1) * PAGE_SIZE],
  );
  // Past the last page there are no rows to carry the window count: ask for it.
  const total =
    rows[0]?.total ??
    (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM employees WHERE department = $1', [department]))
      .rows[0]?.n ??
    0;
  return {
    department,
    page,
    pageSize: PAGE_SIZE,
    total,
    pages: Math.ceil(total / PAGE_SIZE),
    employees: rows.map(({ id, name, email }) => ({ id, name, email })),
  };
}

/** How many of a department's employees are in and out right now. */
export async function departmentSummary(db: Pool, department: Department): Promise<DepartmentCounts> {
  const { rows } = await db.query<DepartmentCounts>(
    `SELECT $1::text AS department,
            count(*)::int AS employees,
            count(*) FILTER (WHERE status = 'in')::int AS in,
            count(*) FILTER (WHERE status = 'out')::int AS out
       FROM employees WHERE department = $1`,
    [department],
  );
  return rows[0] ?? { department, employees: 0, in: 0, out: 0 };
}

/** Every department's counts, and the company's: one aggregate that depends on every department. */
export async function departmentsOverview(db: Pool): Promise<DepartmentsOverview> {
  const { rows } = await db.query<DepartmentCounts>(
    `SELECT department,
            count(*)::int AS employees,
            count(*) FILTER (WHERE status = 'in')::int AS in,
            count(*) FILTER (WHERE status = 'out')::int AS out
       FROM employees GROUP BY department ORDER BY department`,
  );
  const sum = (field: 'employees' | 'in' | 'out') => rows.reduce((n, r) => n + r[field], 0);
  return { employees: sum('employees'), in: sum('in'), out: sum('out'), departments: rows };
}
