import { describe, expect, it } from 'vitest';
import { describePool, type MachineSample, mapAdaptive } from '../src/concurrency.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs that wait `ms` each and record how many were in flight at their start. */
function waitingRuns(ms: number) {
  let inFlight = 0;
  const seen: number[] = [];
  const fn = async (item: number) => {
    inFlight++;
    seen.push(inFlight);
    await sleep(ms);
    inFlight--;
    return item * 10;
  };
  return { fn, seen };
}

const machine = (idle: number): (() => MachineSample) => {
  return () => ({ idle, freeBytes: 8 * 1024 ** 3 });
};

describe('mapAdaptive: runs in flight follow the measured CPU', () => {
  it('starts more runs while every slot is busy and the CPU sits idle, up to max, keeping the order of the results', async () => {
    const { fn, seen } = waitingRuns(60);
    const items = Array.from({ length: 40 }, (_, i) => i);
    const { results, report } = await mapAdaptive(items, { min: 2, max: 5, intervalMs: 20, sample: machine(0.9) }, fn);
    expect(results).toEqual(items.map((i) => i * 10));
    expect(Math.max(...seen), 'never more than max in flight').toBe(5);
    expect(report.limits).toEqual({ start: 2, least: 2, most: 5 });
    expect(report.cpuBusy).toBeCloseTo(0.1);
  });

  it('stays at min when the CPU is busy, and gives back a run it added once the CPU saturates', async () => {
    const { fn, seen } = waitingRuns(40);
    let idle = 0.9;
    const sample = () => ({ idle, freeBytes: 8 * 1024 ** 3 });
    setTimeout(() => {
      idle = 0.01;
    }, 150);
    const { report } = await mapAdaptive(
      Array.from({ length: 40 }, (_, i) => i),
      { min: 2, max: 6, intervalMs: 20, sample },
      fn,
    );
    expect(report.limits.most).toBeGreaterThan(2);
    expect(report.limits.least).toBe(2);
    expect(seen.at(-1), 'the last runs started with the limit back at min').toBeLessThanOrEqual(2);

    const busy = waitingRuns(20);
    const fixed = await mapAdaptive(
      Array.from({ length: 12 }, (_, i) => i),
      { min: 2, max: 6, intervalMs: 10, sample: machine(0.02) },
      busy.fn,
    );
    expect(Math.max(...busy.seen)).toBe(2);
    expect(fixed.report.limits).toEqual({ start: 2, least: 2, most: 2 });
  });

  it('adds no run when memory is short, whatever the CPU', async () => {
    const { fn, seen } = waitingRuns(30);
    await mapAdaptive(
      Array.from({ length: 20 }, (_, i) => i),
      { min: 2, max: 6, intervalMs: 10, sample: () => ({ idle: 0.95, freeBytes: 100 * 1024 ** 2 }) },
      fn,
    );
    expect(Math.max(...seen)).toBe(2);
  });

  it('rejects with the first error once the runs in flight have ended, and starts no new run after it', async () => {
    const started: number[] = [];
    let finished = 0;
    const run = mapAdaptive(
      Array.from({ length: 10 }, (_, i) => i),
      { min: 3, max: 3, sample: machine(0.5) },
      async (i) => {
        started.push(i);
        await sleep(i === 1 ? 5 : 40);
        if (i === 1) throw new Error('run 1 broke');
        finished++;
        return i;
      },
    );
    await expect(run).rejects.toThrow('run 1 broke');
    expect(started, 'no run starts after the failure').toEqual([0, 1, 2]);
    expect(finished, 'the runs in flight were waited for').toBe(2);
  });

  it('describes a batch in one line a person reads', () => {
    expect(describePool({ runs: 152, wallMs: 372_000, cpuBusy: 0.814, limits: { start: 2, least: 2, most: 4 } })).toBe(
      '152 runs in 6 min 12 s (0.41 runs/s), CPU 81% busy, 2–4 at a time',
    );
    expect(describePool({ runs: 232, wallMs: 659_600, cpuBusy: 0.97, limits: { start: 2, least: 2, most: 4 } })).toBe(
      '232 runs in 11 min 0 s (0.35 runs/s), CPU 97% busy, 2–4 at a time',
    );
    expect(describePool({ runs: 1, wallMs: 3_400, cpuBusy: null, limits: { start: 2, least: 2, most: 2 } })).toBe(
      '1 run in 3.4 s (0.29 runs/s), 2 at a time',
    );
  });
});
