import type { StoredResult, StoredTest } from './types.ts';

/** Round to cents of a point, the precision of every report. */
export function round2(n: number): number {
  return Math.round((n + Number.EPSILON) * 100) / 100;
}

/** How a test is named in PinnedTests.given: `test/app.test.ts::describe › name`. */
export const testKey = (t: { file: string; name: string }): string => `${t.file}::${t.name}`;

/** Tag the tests listed in `given` (keys from testKey): the starter already passes them. */
export function markGiven<T extends { file: string; name: string }>(
  tests: T[],
  given: readonly string[],
): (T & { given?: boolean })[] {
  const keys = new Set(given);
  return tests.map((t) => (keys.has(testKey(t)) ? { ...t, given: true } : t));
}

/** Why the run cannot be trusted; [] when nothing says so. */
export function integrityReasons(result: StoredResult | undefined): string[] {
  const integrity = result?.integrity;
  if (integrity?.ok !== false) return [];
  return integrity.reasons.length > 0 ? integrity.reasons : ['the run failed an integrity check'];
}

/**
 * A pass the reports may call a pass: status 'pass', no integrity failure, and no test
 * inside that did not pass (a skipped or errored test never counts as passed, whatever
 * the status says).
 */
export function isCleanPass(result: StoredResult | undefined): boolean {
  if (result?.status !== 'pass' || integrityReasons(result).length > 0) return false;
  return result.tests.every((t) => t.status === 'pass');
}

/** What every report shows for a run. 'integrity' wins over everything: the run is not trusted. */
export type Outcome = 'pass' | 'fail' | 'error' | 'timeout' | 'integrity' | 'not submitted' | 'not graded';

export function outcomeOf(result: StoredResult | undefined): Outcome {
  if (!result) return 'not graded';
  if (integrityReasons(result).length > 0) return 'integrity';
  if (result.notSubmitted) return 'not submitted';
  if (result.status === 'pass') return isCleanPass(result) ? 'pass' : 'fail';
  return result.status;
}

/** A test that counts as passed: status pass. Skipped, failed and errored tests do not. */
const passed = (t: StoredTest) => t.status === 'pass';

/**
 * The score of one graded run:
 *  - integrity failure → 0, whatever the status;
 *  - error, timeout, not graded → 0;
 *  - a clean pass (every test passed) → all the exercise's points;
 *  - otherwise, with `allOrNothing` → 0; else points × (passed tests not given) / (tests not
 *    given), 2 decimals. A given test (the starter passes it) counts on neither side; a
 *    skipped test counts as failed. When every test is given, only a clean pass earns points.
 */
export function scoreOf(result: StoredResult | undefined, points: number, allOrNothing: boolean): number {
  if (!result || integrityReasons(result).length > 0) return 0;
  if (result.status !== 'pass' && result.status !== 'fail') return 0;
  if (isCleanPass(result)) return points;
  if (allOrNothing) return 0;
  // A result stored with counts but no tests (older graders): the counts are all there is.
  if (result.tests.length === 0) return result.total > 0 ? round2((points * result.passed) / result.total) : 0;
  const counted = result.tests.filter((t) => !t.given);
  if (counted.length === 0) return 0;
  return round2((points * counted.filter(passed).length) / counted.length);
}

/** "12.5" → "12.50": every score is shown with two decimals. */
export function formatScore(n: number): string {
  return n.toFixed(2);
}
