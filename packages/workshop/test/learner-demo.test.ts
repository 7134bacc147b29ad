import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { connectRedis } from '@cachelab/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { type DemoReport, type Measurement, renderReport } from '../src/commands/demo.ts';
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
    'runs the lesson under a key prefix of its own and deletes only the keys it wrote: other people’s entries stay',
    async () => {
      // Someone else's entry under the lesson's own prefix (a `cachelab run 03` on the same Redis).
      const sentinel = `cachelab:03:demo-test-someone-else-${process.pid}`;
      const redis = connectRedis();
      try {
        await redis.set(sentinel, 'x', 'EX', 120);
        const { code, out } = await cachelab(['demo', '03', '--hits', '1'], learner.env);
        expect(code, out).toBe(0);
        const prefix = /REDIS_KEY_PREFIX=(cachelab:demo:03:[0-9a-f]+:) \(instead of cachelab:03:\)/.exec(out)?.[1];
        expect(prefix, out).toBeDefined();
        const payments = tableRows(out).filter((r) => r.request?.startsWith('GET /payments'));
        expect(payments.map((r) => r['X-Cache'])).toEqual(['MISS', 'HIT']);
        expect(out).toMatch(/Deleted the [1-9]\d* keys? this run wrote under cachelab:demo:03:/);
        expect(await redis.get(sentinel), 'an entry the demo did not write is still there').toBe('x');
        expect(await redis.keys(`${prefix}*`), 'nothing of the run is left').toEqual([]);
      } finally {
        await redis.del(sentinel);
        redis.disconnect();
      }
    },
  );

  it.runIf(runnable('04'))(
    'where the lesson has a write route, a PATCH is followed by a MISS that reads the new value, then a HIT',
    async () => {
      const { code, out } = await cachelab(['demo', '04', '--hits', '1', '--json'], learner.env);
      expect(code, out).toBe(0);
      // Again, within the TTL of the first run's entries: its own prefix makes it a MISS again.
      const again = await cachelab(['demo', '04', '--hits', '1', '--json'], learner.env);
      expect(again.code, again.out).toBe(0);
      for (const run of [out, again.out]) {
        const r = JSON.parse(run) as DemoReport;
        expect(r.payments.map((m) => m.cache)).toEqual(['MISS', 'HIT']);
        expect(r.employee[0]?.cache).toBe('MISS');
      }
      const report = JSON.parse(out) as DemoReport;
      expect(report.write.map((m) => `${m.method} ${m.cache ?? '—'}`)).toEqual(['PATCH —', 'GET MISS', 'GET HIT']);
      expect(report.statusChange?.reread, 'the re-read answers the new status').toBe(report.statusChange?.to);
      expect(report.statusChange?.to).not.toBe(report.statusChange?.from);
    },
  );

  it.runIf(runnable('07'))(
    'lesson 07: asked again with the ETag, the answer is a 304 with no body; after a PATCH the old ETag gets a 200',
    async () => {
      const { code, out } = await cachelab(['demo', '07', '--hits', '1'], learner.env);
      expect(code, out).toBe(0);
      const rows = tableRows(out);
      const conditional = rows.filter((r) => r.request?.includes('If-None-Match'));
      expect(conditional.map((r) => `${r.request?.split(' ')[1]} ${r.status} ${r.size}`)).toEqual([
        '/payments 304 0 B',
        '/employees/42 304 0 B',
        expect.stringMatching(/^\/employees\/42 200 [\d.]+ k?B$/),
      ]);
      expect(out).toMatch(
        /✓ The payments carry ETag "[^"]+": asked again with If-None-Match, the server answered 304 Not Modified with 0 B instead of [\d.]+ MB, [\d.]+ ms for the client instead of [\d.]+ ms/,
      );
      expect(out).toMatch(/✓ After the PATCH, the old ETag no longer matched: a 200 with the new value/);
    },
  );

  it.runIf(runnable('10'))(
    'lesson 10: /metrics counts what the headers said, and with Redis frozen the circuit opens, then closes by itself',
    async () => {
      const { code, out } = await cachelab(['demo', '10', '--hits', '1'], learner.env);
      expect(code, out).toBe(0);
      expect(out).toContain('cache_requests_total{name="payments",result="miss"} 1');
      expect(out).toContain('cache_requests_total{name="payments",result="hit"} 1');
      expect(out).toContain('✓ /metrics counted 1 miss and 1 hit for payments: the same as the X-Cache headers above');
      expect(out).toMatch(/✓ The first \d+ requests? waited for Redis until the command timed out \(l2 [\d.]+ ms/);
      expect(out).toMatch(/✓ Then the circuit opened \(\/metrics: cache_circuit_state 2 = open, opened 1 time/);
      expect(out).toMatch(
        /✓ Redis answering again: after [\d,]+ ms .* the circuit closed by itself \(cache_circuit_state 0 = closed\)/,
      );
    },
  );

  it('names the lessons when asked for one that does not exist, without a stack trace', async () => {
    const { code, out } = await cachelab(['demo', '42'], learner.env);
    expect(code).toBe(2);
    expect(out).toMatch(/There is no lesson "42"\. Lessons: 01/);
    expect(out).not.toMatch(/\n\s+at /);
  });
});

describe('cachelab demo, what it says about an answer', () => {
  const row = (cache: string, dbMs: number): Measurement => ({
    label: 'GET /payments (classic)',
    method: 'GET',
    path: '/payments',
    status: 200,
    cache,
    level: undefined,
    timing: { db: dbMs, total: dbMs + 5 },
    wallMs: dbMs + 20,
    bytes: 17_800_000,
  });
  const report = (first: string): DemoReport => ({
    lesson: '03-redis-cache-aside',
    cached: true,
    keys: null,
    freshParameters: false,
    payments: [row(first, 300), row('HIT', 0)],
    employee: [],
    write: [],
    statusChange: null,
    conditional: [],
    metrics: null,
    outage: null,
  });

  it('a first request that was a BYPASS says Redis did not answer in time, not that something had cached it', () => {
    const out = renderReport(report('BYPASS'));
    expect(out).toContain('The first request was a BYPASS, not a MISS: Redis did not answer in time');
    expect(out).not.toContain('something had already cached');
  });

  it('a first request that was a HIT says something had already cached it', () => {
    expect(renderReport(report('HIT'))).toContain(
      'The first request was HIT, not a MISS: something had already cached',
    );
  });
});
