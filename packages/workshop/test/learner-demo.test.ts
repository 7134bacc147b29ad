import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { connectRedis } from '@cachelab/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import type { DemoReport } from '../src/commands/demo.ts';
import { findLesson } from '../src/repo.ts';
import { cachelab, createLearner } from './learner-kit.ts';

/**
 * `cachelab demo NN` as a learner runs it: the lesson's own server started as a child
 * process, real requests, the numbers read from its headers. Nothing here is canned, so
 * the assertions are about order and shape (a MISS slower than the HITs), not figures.
 */
const learner = createLearner('demo');
afterAll(() => learner.dispose());

/** Lessons 02–04 are written alongside this CLI: their tests run once their server exists. */
function runnable(id: string): boolean {
  const lesson = findLesson(id);
  return lesson !== undefined && existsSync(join(lesson.dir, 'src', 'main.ts'));
}

/** The rows of the demo's table: cells split on runs of two or more spaces, by header. */
function tableRows(out: string): Record<string, string>[] {
  const lines = out.split('\n');
  const head = lines.findIndex((l) => /^\s*#\s+request\s+status\s+X-Cache/.test(l));
  expect(head, `the demo prints a table:\n${out}`).toBeGreaterThanOrEqual(0);
  const names = (lines[head] as string).trim().split(/\s{2,}/);
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(head + 1)) {
    if (!/^\s*\d+\s/.test(line)) break;
    const cells = line.trim().split(/\s{2,}/);
    rows.push(Object.fromEntries(names.map((n, i) => [n, cells[i] ?? ''])));
  }
  return rows;
}

describe('cachelab demo', { timeout: 180_000 }, () => {
  it('lesson 01: every request reaches PostgreSQL, with db times measured on each, and it says there is no cache', async () => {
    const { code, out } = await cachelab(['demo', '01', '--hits', '2'], learner.env);
    expect(code, out).toBe(0);
    const rows = tableRows(out);
    const payments = rows.filter((r) => r.request?.startsWith('GET /payments'));
    expect(payments).toHaveLength(3);
    for (const row of payments) {
      expect(row['X-Cache'], 'lesson 01 sends no X-Cache').toBe('—');
      expect(Number(row['db ms']), `db time is a measured number: ${JSON.stringify(row)}`).toBeGreaterThan(0);
      expect(Number(row['total ms'])).toBeGreaterThanOrEqual(Number(row['db ms']));
      expect(row.size).toMatch(/MB$/);
    }
    expect(out).toContain('Lesson 01 has no cache: all 3 requests for the same payments went to PostgreSQL');
    expect(out).toMatch(/#1\s+█/); // a bar per request
    expect(out).not.toContain('\x1b[');
  });

  it.runIf(runnable('02'))(
    'lesson 02: the first request is a MISS, the repeated ones are HITs, and the table shows the MISS slower',
    async () => {
      const { code, out } = await cachelab(['demo', '02', '--hits', '3'], learner.env);
      expect(code, out).toBe(0);
      const payments = tableRows(out).filter((r) => r.request?.startsWith('GET /payments'));
      expect(payments.map((r) => r['X-Cache'])).toEqual(['MISS', 'HIT', 'HIT', 'HIT']);
      const [miss, ...hits] = payments.map((r) => Number(r['total ms']));
      for (const hit of hits)
        expect(hit, `a HIT (${hit} ms) is faster than the MISS (${miss} ms)`).toBeLessThan(miss ?? 0);
      expect(payments[1]?.['db ms'], 'a HIT does not ask PostgreSQL').toBe('—');
      expect(out).toMatch(/MISS\s+█+/);
      expect(out).toMatch(/HIT ×3\s+/);
      expect(out).toMatch(/✓ The first request was a MISS: [\d.]+ ms in PostgreSQL/);
      expect(out).toMatch(/✓ The 3 after it were HITs, without asking PostgreSQL/);
    },
  );

  it('--json gives the measurements to a program', async () => {
    const { code, out } = await cachelab(['demo', '01', '--hits', '1', '--json'], learner.env);
    expect(code, out).toBe(0);
    const report = JSON.parse(out) as DemoReport;
    expect(report.lesson).toBe('01-uncached');
    expect(report.cached).toBe(false);
    expect(report.payments).toHaveLength(2);
    for (const m of [...report.payments, ...report.employee]) {
      expect(m.status).toBe(200);
      expect(m.timing.db).toBeGreaterThan(0);
      expect(m.wallMs).toBeGreaterThan(0);
    }
  });

  it.runIf(runnable('03'))(
    'clears the lesson’s own keys in Redis first, so that the first request is a real MISS',
    async () => {
      // A stale entry under the lesson's prefix, as a learner's earlier `cachelab run 03` would leave.
      const redis = connectRedis();
      try {
        await redis.set('cachelab:03:demo-test-leftover', 'x', 'EX', 60);
      } finally {
        redis.disconnect();
      }
      const { code, out } = await cachelab(['demo', '03', '--hits', '1'], learner.env);
      expect(code, out).toBe(0);
      expect(out).toMatch(/Cleared [1-9][\d,]* cached entr(y|ies) under cachelab:03: in Redis/);
      const payments = tableRows(out).filter((r) => r.request?.startsWith('GET /payments'));
      expect(payments.map((r) => r['X-Cache'])).toEqual(['MISS', 'HIT']);
    },
  );

  it.runIf(runnable('04'))(
    'where the lesson has a write route, a PATCH is followed by a MISS that reads the new value, then a HIT',
    async () => {
      const { code, out } = await cachelab(['demo', '04', '--hits', '1', '--json'], learner.env);
      expect(code, out).toBe(0);
      const report = JSON.parse(out) as DemoReport;
      expect(report.write.map((m) => `${m.method} ${m.cache ?? '—'}`)).toEqual(['PATCH —', 'GET MISS', 'GET HIT']);
      expect(report.statusChange?.reread, 'the re-read answers the new status').toBe(report.statusChange?.to);
      expect(report.statusChange?.to).not.toBe(report.statusChange?.from);
    },
  );

  it('names the lessons when asked for one that does not exist, without a stack trace', async () => {
    const { code, out } = await cachelab(['demo', '42'], learner.env);
    expect(code).toBe(2);
    expect(out).toMatch(/There is no lesson "42"\. Lessons: 01/);
    expect(out).not.toMatch(/\n\s+at /);
  });
});
