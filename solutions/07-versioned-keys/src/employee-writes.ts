import type { Pool, PoolClient } from '@cachelab/db';
import { HttpProblem } from '@cachelab/lesson-01-uncached/problem';
import type { Employee } from '@cachelab/lesson-01-uncached/queries';
import { z } from 'zod';
import { department } from './departments.ts';

/**
 * The write of this exercise, `PATCH /employees/:id`: the body it accepts and the SQL it runs
 * inside one transaction (`inTransaction`). Nothing here knows about caches: deciding what to
 * invalidate, and when, is app.ts's job.
 */

const name = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const email = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email('must be an email address').max(254, 'must be at most 254 characters'));
const status = z.enum(['in', 'out'], 'must be "in" or "out"');

/** The body of `PATCH /employees/:id`: any of the four fields, at least one. */
export const employeeChanges = z
  .object({
    name: name.optional(),
    email: email.optional(),
    department: department.optional(),
    status: status.optional(),
  })
  .strict()
  .refine((c) => Object.values(c).some((v) => v !== undefined), {
    message: 'must contain at least one of `name`, `email`, `department`, `status`',
  });
export type EmployeeChanges = z.infer<typeof employeeChanges>;

/** 409: the email belongs to somebody else (the column is UNIQUE). */
export const conflict = (detail: string) => new HttpProblem(409, 'conflict', 'Conflict with the current data', detail);

/** Called after a write's statements, just before its COMMIT. */
export type BeforeCommit = () => Promise<void>;

/**
 * Run `work` in one transaction on one connection of `db`:
 *
 *   BEGIN → work(tx) → beforeCommit() → COMMIT        (ROLLBACK if anything throws)
 *
 * Until COMMIT returns, nobody else sees the write: another connection reading the same rows
 * gets the old, committed values (PostgreSQL does not make readers wait for writers). When
 * this function resolves, the write is committed and visible to everyone.
 */
export async function inTransaction<T>(
  db: Pool,
  beforeCommit: BeforeCommit | undefined,
  work: (tx: PoolClient) => Promise<T>,
): Promise<T> {
  const tx = await db.connect();
  try {
    await tx.query('BEGIN');
    const result = await work(tx);
    // The tests rely on this line: they hold a write here, with its transaction still open.
    await beforeCommit?.();
    await tx.query('COMMIT');
    return result;
  } catch (error) {
    await tx.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    tx.release();
  }
}

const COLUMNS = 'id, name, email, department, status, status_updated_at, updated_at';

/** Turn a unique violation on the email into a 409; anything else goes on up. */
function emailTaken(error: unknown, address: string | undefined): never {
  if ((error as { code?: string }).code === '23505') {
    throw conflict(`Another employee already has the email ${address}.`);
  }
  throw error;
}

/** The row as it is before a change, locked until the transaction ends; undefined when there is none. */
export async function lockEmployee(tx: PoolClient, id: number): Promise<Employee | undefined> {
  const { rows } = await tx.query<Employee>(`SELECT ${COLUMNS} FROM employees WHERE id = $1 FOR UPDATE`, [id]);
  return rows[0];
}

/** Apply `changes` to a row locked by `lockEmployee`, and return it as it is now. */
export async function updateEmployee(tx: PoolClient, id: number, changes: EmployeeChanges): Promise<Employee> {
  const { rows } = await tx
    .query<Employee>(
      `UPDATE employees
          SET name = coalesce($2, name),
              email = coalesce($3, email),
              department = coalesce($4, department),
              status = coalesce($5, status),
              status_updated_at = CASE WHEN $5::text IS NOT NULL AND $5 <> status THEN now() ELSE status_updated_at END,
              updated_at = now()
        WHERE id = $1
    RETURNING ${COLUMNS}`,
      [id, changes.name ?? null, changes.email ?? null, changes.department ?? null, changes.status ?? null],
    )
    .catch((error) => emailTaken(error, changes.email));
  return rows[0] as Employee;
}
