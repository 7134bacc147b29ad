import type { StoredResult } from './types.ts';

/** Round to cents of a point, the precision of every report. */
export function round2(n: number): number {
  return Math.round((n + Number.EPSILON) * 100) / 100;
}

/**
 * The score of one graded run:
 *  - pass → all the exercise's points;
 *  - fail → points × passed / total (2 decimals), or 0 with `allOrNothing`;
 *  - error, timeout, not graded → 0.
 */
export function scoreOf(result: StoredResult | undefined, points: number, allOrNothing: boolean): number {
  if (!result) return 0;
  if (result.status === 'pass') return points;
  if (result.status !== 'fail' || allOrNothing || result.total === 0) return 0;
  return round2((points * result.passed) / result.total);
}

/** "12.5" → "12.50": every score is shown with two decimals. */
export function formatScore(n: number): string {
  return n.toFixed(2);
}
