import type { Pool } from '@cachelab/db';
import { expect } from 'vitest';
import type { HttpHarness } from './http.ts';

/**
 * The consistency hammer: readers and writers on every instance of an app at once, on a
 * small set of keys, for a bounded time; then quiescence; then every touched key compared
 * across each instance's API, what Redis holds, and PostgreSQL. What a lesson that promises
 * "fresh after a write" must survive without any fault injected.
 *
 * It finds races by chance, not by construction: the deterministic tests (a gate on the
 * store, testkit's holdTheStoreOf) pin each known race down. This catches the ones nobody
 * has named yet, and proves the bound holds when everything happens at once.
 */
export interface HammerOptions<I> {
  /** Two or more instances of the app (separate L1s, separate Redis connections). */
  instances: I[];
  /** The keys: few, so that reads and writes collide. */
  ids: number[];
  /** How long readers and writers run. */
  durationMs: number;
  /** Concurrent readers and writers, each picking an instance and a key at random each time. */
  readers: number;
  writers: number;
  /** What the instance serves for `id` (e.g. the employee's name), or undefined when it does not answer 200. */
  read(instance: I, id: number): Promise<string | undefined>;
  /** Write `value` for `id` through the instance's API; throw when it does not succeed. */
  write(instance: I, id: number, value: string): Promise<void>;
  /** What PostgreSQL holds for `id` now. */
  truth(id: number): Promise<string>;
  /** What the shared cache (Redis) holds for `id`, or undefined when nothing: must never be old after quiescence. */
  cached?(id: number): Promise<string | undefined>;
  /**
   * After the last write answered, how long an instance may still serve the old value (its
   * invalidation travels over pub/sub). The README's bound; default 1000 ms.
   */
  settleMs?: number;
  /** Random source (tests may seed one). Default Math.random. */
  random?: () => number;
}

export interface HammerReport {
  reads: number;
  writes: number;
  /** One line per disagreement after quiescence: what was served or stored, and the truth. */
  mismatches: string[];
}

export async function hammer<I>(options: HammerOptions<I>): Promise<HammerReport> {
  const random = options.random ?? Math.random;
  const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)] as T;
  const until = performance.now() + options.durationMs;
  const report: HammerReport = { reads: 0, writes: 0, mismatches: [] };
  let sequence = 0;
  const reader = async () => {
    while (performance.now() < until) {
      await options.read(pick(options.instances), pick(options.ids));
      report.reads++;
    }
  };
  const writer = async (w: number) => {
    while (performance.now() < until) {
      sequence++;
      await options.write(pick(options.instances), pick(options.ids), `Hammered ${w}-${sequence}`);
      report.writes++;
    }
  };
  await Promise.all([
    ...Array.from({ length: options.readers }, () => reader()),
    ...Array.from({ length: options.writers }, (_, w) => writer(w)),
  ]);

  // Quiescence: every write has answered. Redis must already agree (a write answers after its
  // invalidation); each instance must agree within the settle bound.
  const settleMs = options.settleMs ?? 1_000;
  for (const id of options.ids) {
    const truth = await options.truth(id);
    if (options.cached) {
      const stored = await options.cached(id);
      if (stored !== undefined && stored !== truth)
        report.mismatches.push(`Redis holds "${stored}" for ${id} after the writes; PostgreSQL has "${truth}"`);
    }
    for (const [n, instance] of options.instances.entries()) {
      const deadline = performance.now() + settleMs;
      let served = await options.read(instance, id);
      while (served !== truth && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        served = await options.read(instance, id);
      }
      if (served !== truth)
        report.mismatches.push(
          `instance ${n + 1} serves "${served}" for ${id} ${settleMs} ms after the last write; PostgreSQL has "${truth}"`,
        );
    }
  }
  return report;
}

/**
 * The hammer every lesson with `GET` and `PATCH /employees/:id` uses: readers read the name,
 * writers rename, PostgreSQL (`db`, the test file's schema) is the truth. `cached` says how
 * this lesson's Redis entry spells the name (each lesson stores its own format).
 */
export function hammerEmployeeNames<I extends { http: HttpHarness }>(options: {
  instances: I[];
  ids: number[];
  db: Pool;
  cached?: (id: number) => Promise<string | undefined>;
  durationMs?: number;
}): Promise<HammerReport> {
  return hammer({
    instances: options.instances,
    ids: options.ids,
    durationMs: options.durationMs ?? 2_000,
    readers: 8,
    writers: 2,
    read: async (instance, id) => {
      const res = await instance.http.get(`/employees/${id}`);
      return res.status === 200 ? res.json<{ name: string }>().name : undefined;
    },
    write: async (instance, id, name) => {
      const res = await instance.http.request(`/employees/${id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      if (res.status !== 200) throw new Error(`PATCH /employees/${id} answered ${res.status}: ${res.text}`);
    },
    truth: async (id) => {
      const { rows } = await options.db.query<{ name: string }>('SELECT name FROM employees WHERE id = $1', [id]);
      return rows[0]?.name as string;
    },
    ...(options.cached ? { cached: options.cached } : {}),
  });
}

/** The hammer did work (writes, and more reads than writes), and nothing disagreed after it. */
export function expectConsistent(report: HammerReport): void {
  expect(report.writes, 'the hammer wrote nothing').toBeGreaterThan(0);
  expect(report.reads, 'the hammer read nothing').toBeGreaterThan(report.writes);
  expect(report.mismatches, 'after the writes, every instance and Redis must agree with PostgreSQL').toEqual([]);
}
