import { record } from '@cachelab/lesson-01-uncached/server-timing';
import type { CacheResult } from '@cachelab/lesson-04-hierarchical/two-level-cache';
import type { Response } from 'express';

/**
 * Writing what the caches did into the response: `X-Cache`, `X-Cache-Level`, and one
 * Server-Timing metric per level, summed over every lookup the request made (a composed
 * response makes two; a list makes a version lookup first).
 *
 * For a response built from several cached parts:
 *   X-Cache        BYPASS if any part bypassed Redis, else MISS if any part was loaded, else HIT
 *   X-Cache-Level  on a HIT: L2 if any part came from Redis, else L1
 *   X-Cache-Parts  each part's own outcome, e.g. `profile=L1, status=MISS`
 */
export type Part = { name: string; result: CacheResult };

export function outcome(results: readonly CacheResult[]): CacheResult['status'] {
  if (results.some((r) => r.status === 'BYPASS')) return 'BYPASS';
  if (results.some((r) => r.status === 'MISS')) return 'MISS';
  return 'HIT';
}

/** `L1`, `L2`, `MISS` or `BYPASS`: one part's outcome in one word. */
export const partOutcome = (r: CacheResult): string => (r.status === 'HIT' ? r.level.toUpperCase() : r.status);

/** Record the summed timings of `results`, plus `extra` (e.g. the version lookup's l2 time). */
export function recordTimings(
  res: Response,
  results: readonly CacheResult[],
  extra: Partial<Record<string, number>> = {},
): void {
  const sums = new Map<string, number>();
  const add = (name: string, ms: number | undefined) => {
    if (ms !== undefined) sums.set(name, (sums.get(name) ?? 0) + ms);
  };
  for (const [name, ms] of Object.entries(extra)) add(name, ms);
  for (const r of results) for (const [name, ms] of Object.entries(r.timings)) add(name, ms);
  // Lesson 04's order: the levels in the order a read consults them.
  for (const name of ['l1', 'l2', 'db', 'json']) {
    const ms = sums.get(name);
    if (ms !== undefined) record(res, name, ms);
  }
}

export function setCacheHeaders(res: Response, results: readonly CacheResult[]): void {
  const status = outcome(results);
  res.set('X-Cache', status);
  if (status === 'HIT') res.set('X-Cache-Level', results.some((r) => r.level === 'l2') ? 'L2' : 'L1');
}

/** Send one cached body as it is (no JSON work on a hit). */
export function sendResult(res: Response, result: CacheResult, extra: Partial<Record<string, number>> = {}): void {
  recordTimings(res, [result], extra);
  setCacheHeaders(res, [result]);
  res.type('application/json').send(result.body);
}

/** Send a body built from several cached parts: parse each (small), let `compose` join them. */
export function sendComposed(res: Response, parts: readonly Part[], compose: (values: unknown[]) => unknown): void {
  const results = parts.map((p) => p.result);
  const started = performance.now();
  const body = JSON.stringify(compose(results.map((r) => JSON.parse(r.body.toString('utf8')))));
  const json = performance.now() - started;
  recordTimings(res, results, { json });
  setCacheHeaders(res, results);
  res.set('X-Cache-Parts', parts.map((p) => `${p.name}=${partOutcome(p.result)}`).join(', '));
  res.type('application/json').send(body);
}
