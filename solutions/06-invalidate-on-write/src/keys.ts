import type { Employee } from '@cachelab/lesson-01-uncached/queries';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';

/**
 * Every cache key of this app, from lesson 02's one key helper:
 *
 *   employee:v1:id=42                 GET /employees/42
 *   dept-employees:v1:dept=Sales      GET /departments/Sales/employees   (names, emails, statuses)
 *   dept-summary:v1:dept=Sales        GET /departments/Sales/summary     (head counts, in and out)
 *
 * The GET routes cache under these; a write invalidates the ones whose response it changed.
 */
export const employeeKey = (prefix: string, id: number) => cacheKey({ prefix, name: 'employee', params: { id } });

export const deptEmployeesKey = (prefix: string, dept: string) =>
  cacheKey({ prefix, name: 'dept-employees', params: { dept } });

export const deptSummaryKey = (prefix: string, dept: string) =>
  cacheKey({ prefix, name: 'dept-summary', params: { dept } });

/**
 * A committed write, as the row before and after it: a POST has no `before`, a DELETE has
 * no `after`, a PATCH has both.
 */
export interface Change {
  before?: Employee | undefined;
  after?: Employee | undefined;
}

/** The keys of every cached response that `change` has made wrong. */
export function keysAffectedBy(prefix: string, change: Change): string[] {
  const employee = change.after ?? change.before;
  if (!employee) return [];
  // One employee row feeds three cached responses: its own, and its department's list
  // (names, emails, statuses) and summary (head counts). And every department the row was
  // in before the write or is in after it: a move changes BOTH lists and BOTH summaries;
  // forgetting the old one leaves the employee listed in a department they have left.
  const departments = new Set<string>();
  if (change.before) departments.add(change.before.department);
  if (change.after) departments.add(change.after.department);
  return [
    employeeKey(prefix, employee.id),
    ...[...departments].flatMap((dept) => [deptEmployeesKey(prefix, dept), deptSummaryKey(prefix, dept)]),
  ];
}
