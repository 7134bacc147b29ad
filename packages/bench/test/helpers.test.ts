import { describe, expect, it } from 'vitest';
import { type Comparison, roundOrder, roundRatio } from '../src/compare.ts';
import { hitRatio } from '../src/load.ts';
import { markdownTable, svgBars, terminalBars } from '../src/render.ts';
import { median, quantile, summarizeLatencies } from '../src/stats.ts';
import { mulberry32, profileSequence, uniformSequence, zipfSequence } from '../src/zipf.ts';

describe('request sequences', () => {
  it('gives the same sequence for the same seed, and another for another seed', () => {
    const a = zipfSequence({ keys: 1000, count: 500, seed: 7 });
    expect(zipfSequence({ keys: 1000, count: 500, seed: 7 })).toEqual(a);
    expect(zipfSequence({ keys: 1000, count: 500, seed: 8 })).not.toEqual(a);
    expect(uniformSequence({ keys: 1000, count: 500, seed: 7 })).toEqual(
      uniformSequence({ keys: 1000, count: 500, seed: 7 }),
    );
  });

  it('draws only keys from 1 to keys', () => {
    for (const seq of [zipfSequence({ keys: 50, count: 5000 }), uniformSequence({ keys: 50, count: 5000 })]) {
      expect(Math.min(...seq)).toBeGreaterThanOrEqual(1);
      expect(Math.max(...seq)).toBeLessThanOrEqual(50);
      expect(seq.every(Number.isInteger)).toBe(true);
    }
  });

  it('concentrates a Zipf sequence on few keys, and spreads a uniform one', () => {
    const zipf = profileSequence(zipfSequence({ keys: 10_000, count: 20_000, s: 1, seed: 1 }));
    const uniform = profileSequence(uniformSequence({ keys: 10_000, count: 20_000, seed: 1 }));
    // With s = 1 over 10,000 keys the top 1% of keys take about half of the traffic.
    expect(zipf.top1PercentShare).toBeGreaterThan(0.35);
    expect(uniform.top1PercentShare).toBeLessThan(0.05);
    expect(zipf.distinct).toBeLessThan(uniform.distinct);
    expect(zipf.coldHitRatioCeiling).toBeGreaterThan(uniform.coldHitRatioCeiling);
  });

  it('is uniform when s is 0', () => {
    const p = profileSequence(zipfSequence({ keys: 1000, count: 20_000, s: 0 }));
    expect(p.top1PercentShare).toBeLessThan(0.03);
  });

  it('computes the cold hit-ratio ceiling as 1 - distinct / requests', () => {
    expect(profileSequence([1, 1, 2, 1])).toMatchObject({ requests: 4, distinct: 2, coldHitRatioCeiling: 0.5 });
  });

  it('refuses a key count or request count that is not a positive whole number', () => {
    expect(() => zipfSequence({ keys: 0, count: 1 })).toThrow(/keys must be a positive whole number/);
    expect(() => uniformSequence({ keys: 10, count: 1.5 })).toThrow(/count must be a positive whole number/);
    expect(() => zipfSequence({ keys: 10, count: 1, s: -1 })).toThrow(/s must be a number ≥ 0/);
  });

  it('has a seeded generator with values in [0, 1)', () => {
    const random = mulberry32(3);
    const values = Array.from({ length: 1000 }, random);
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(new Set(values).size).toBeGreaterThan(990);
  });
});

describe('statistics', () => {
  it('takes nearest-rank quantiles and the median', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(sorted, 0.5)).toBe(50);
    expect(quantile(sorted, 0.99)).toBe(99);
    expect(quantile([], 0.5)).toBe(0);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });

  it('summarises latencies whatever their order', () => {
    const s = summarizeLatencies([5, 1, 4, 2, 3]);
    expect(s).toEqual({ p50: 3, p90: 5, p99: 5, max: 5, mean: 3 });
  });

  it('counts the hit ratio over responses that carried X-Cache', () => {
    expect(hitRatio({ xCache: { HIT: 90, MISS: 10, none: 50 } })).toBe(0.9);
    expect(hitRatio({ xCache: { none: 10 } })).toBeUndefined();
  });
});

describe('rendering', () => {
  it('writes a Markdown table with numbers aligned right', () => {
    const table = markdownTable(
      [
        { header: 'name', value: (r: { n: string; v: number }) => r.n },
        { header: 'value', value: (r) => String(r.v), numeric: true },
      ],
      [
        { n: 'a', v: 1 },
        { n: 'bb', v: 100 },
      ],
    );
    expect(table.split('\n')).toEqual(['| name | value |', '| ---- | ----: |', '| a    |     1 |', '| bb   |   100 |']);
  });

  it('draws terminal bars proportional to the values', () => {
    const lines = terminalBars(
      [
        { label: 'x', value: 100 },
        { label: 'y', value: 50 },
      ],
      { width: 10 },
    ).split('\n');
    expect(lines[0]).toContain('█'.repeat(10));
    expect(lines[1]).toContain('█'.repeat(5));
    expect(lines[1]).not.toContain('█'.repeat(6));
  });

  it('writes an SVG with one bar per value and escapes the labels', () => {
    const svg = svgBars(
      [
        { label: 'a <b>', value: 2, series: 'uniform' },
        { label: 'a <b>', value: 1, series: 'zipf' },
      ],
      { title: 'T & T' },
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('a &lt;b&gt;');
    expect(svg).toContain('T &amp; T');
    expect(svg.match(/<rect x="\d/g)?.length).toBeGreaterThanOrEqual(2);
  });
});

describe('comparing in rounds', () => {
  it('rotates the strategies every round, so that each is first in some round', () => {
    const names = ['express', 'lru', 'redis'];
    expect(roundOrder(names, 1)).toEqual(['lru', 'redis', 'express']);
    expect(roundOrder(names, 2)).toEqual(['redis', 'express', 'lru']);
    expect(roundOrder(names, 3)).toEqual(['express', 'lru', 'redis']);
    expect(new Set([1, 2, 3].map((round) => roundOrder(names, round)[0])).size).toBe(3);
  });

  it('compares two strategies by the ratio of their ratios to the reference, round by round', () => {
    const result = (name: string, ratioRounds: number[]) => ({ name, ratioRounds }) as Comparison;
    const results = [result('a', [1.2, 0.9, 1.5]), result('b', [0.8, 0.6, 1.0])];
    // Round by round 1.5, 1.5, 1.5: whatever the machine did to a round, it did to both.
    expect(roundRatio(results, 'a', 'b')).toBeCloseTo(1.5, 10);
    expect(roundRatio(results, 'b', 'a')).toBeCloseTo(2 / 3, 10);
    expect(roundRatio(results, 'a', 'missing')).toBeNaN();
  });
});
