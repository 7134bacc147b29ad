import type { Pool, PoolClient } from '@cachelab/db';
import { HttpProblem } from '@cachelab/lesson-01-uncached/problem';
import type { Employee } from '@cachelab/lesson-01-uncached/queries';
import type { EmployeeChanges, EmployeeReplacement, NewEmployee } from './directory-validation.ts';

/**
 * The writes of the employee directory. Each one runs in its own transaction and resolves
 * **only after COMMIT**, with the row as it was before and as it is after:
 *
 *   create   { before: undefined, after }
 *   replace  { before, after }      (undefined when there is no such employee)
 *   patch    { before, after }      (undefined when there is no such employee)
 *   remove   { before, after: undefined }
 *
 * Both sides matter to invalidation: moving someone from Sales to Legal changes *two*
 * departments' lists and counts, and only `before` knows the first one. `before` is read
 * with `SELECT … FOR UPDATE`, so no other write can slip in between it and the UPDATE.
 *
 * Caches are not touched here. The caller invalidates when the promise has resolved: the
 * moment the new row is visible to every other connection (see invalidation.ts for why
 * not earlier).
 */
export interface Change {
  before: Employee | undefined;
  after: Employee | undefined;
}

const COLUMNS = 'id, name, email, department, status, status_updated_at, updated_at';

/** 409 problem+json: the request is fine, but it collides with what is stored. */
export const conflict = (detail: string) => new HttpProblem(409, 'conflict', 'Conflict with the current data', detail);

/** Run `fn` in a transaction on one connection; resolve after COMMIT, roll back on any error. */
export async function inTransaction<T>(db: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw asConflict(err);
  } finally {
    client.release();
  }
}

/** PostgreSQL's unique violation on `email` becomes a 409 naming the email; anything else passes through. */
function asConflict(err: unknown): unknown {
  const pg = err as { code?: string; constraint?: string; detail?: string };
  if (pg.code === '23505' && (pg.constraint ?? '').includes('email')) {
    const email = /\(email\)=\((.*)\)/.exec(pg.detail ?? '')?.[1];
    return conflict(`Another employee already has the email ${email ?? 'given'}.`);
  }
  return err;
}

async function lockEmployee(client: PoolClient, id: number): Promise<Employee | undefined> {
  const { rows } = await client.query<Employee>(`SELECT ${COLUMNS} FROM employees WHERE id = $1 FOR UPDATE`, [id]);
  return rows[0];
}

export async function createEmployee(db: Pool, input: NewEmployee): Promise<Change> {
  return inTransaction(db, async (client) => {
    const { rows } = await client.query<Employee>(
      `INSERT INTO employees (name, email, department, status)
       VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
      [input.name, input.email, input.department, input.status],
    );
    return { before: undefined, after: rows[0] };
  });
}

/**
 * Apply `changes` (any of name, email, department, status) to one employee. `updated_at`
 * moves when a profile field really changed, `status_updated_at` when the status did.
 * Resolves undefined when there is no such employee (nothing was written).
 */
export async function patchEmployee(db: Pool, id: number, changes: EmployeeChanges): Promise<Change | undefined> {
  return inTransaction(db, async (client) => {
    const before = await lockEmployee(client, id);
    if (!before) return undefined;
    const { rows } = await client.query<Employee>(
      `UPDATE employees
          SET name = coalesce($2, name),
              email = coalesce($3, email),
              department = coalesce($4, department),
              status = coalesce($5, status),
              status_updated_at = CASE WHEN coalesce($5, status) <> status THEN now() ELSE status_updated_at END,
              updated_at = CASE WHEN (coalesce($2, name), coalesce($3, email), coalesce($4, department))
                                     IS DISTINCT FROM (name, email, department) THEN now() ELSE updated_at END
        WHERE id = $1
    RETURNING ${COLUMNS}`,
      [id, changes.name ?? null, changes.email ?? null, changes.department ?? null, changes.status ?? null],
    );
    return { before, after: rows[0] };
  });
}

/** PUT: every field replaced. The same statement as a patch that names every field. */
export function replaceEmployee(db: Pool, id: number, replacement: EmployeeReplacement): Promise<Change | undefined> {
  return patchEmployee(db, id, replacement);
}

/** Resolves undefined when there is no such employee. */
export async function removeEmployee(db: Pool, id: number): Promise<Change | undefined> {
  return inTransaction(db, async (client) => {
    const { rows } = await client.query<Employee>(`DELETE FROM employees WHERE id = $1 RETURNING ${COLUMNS}`, [id]);
    return rows[0] ? { before: rows[0], after: undefined } : undefined;
  });
}
