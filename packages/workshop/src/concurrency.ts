import { availableParallelism, cpus, freemem } from 'node:os';

/** Run `fn` over `items` with at most `limit` at once, keeping the results in order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** What the machine had to give during one sampling interval. */
export interface MachineSample {
  /** Share of all cores' time that was idle since the previous sample, 0–1. */
  idle: number;
  /** Free memory now, bytes. */
  freeBytes: number;
}

/** The machine's CPU idle share since the previous call, and its free memory (os.cpus, os.freemem). */
export function machineSampler(): () => MachineSample {
  const total = () =>
    cpus().reduce(
      (acc, cpu) => {
        const t = cpu.times;
        acc.idle += t.idle;
        acc.all += t.idle + t.user + t.nice + t.sys + t.irq;
        return acc;
      },
      { idle: 0, all: 0 },
    );
  let last = total();
  return () => {
    const now = total();
    const all = now.all - last.all;
    const idle = all > 0 ? (now.idle - last.idle) / all : 1;
    last = now;
    return { idle, freeBytes: freemem() };
  };
}

export interface AdaptiveOptions {
  /** Runs in flight to begin with, and never fewer: the machine's cores. */
  min?: number;
  /** Never more than this: twice the cores, at most 8. */
  max?: number;
  /** How often the machine is sampled, ms. Default 1,000. */
  intervalMs?: number;
  /** Add a run when at least this share of the CPU sat idle while every slot was busy. Default 0.3. */
  idleToGrow?: number;
  /** Take one away when less than this share was idle. Default 0.05. */
  idleToShrink?: number;
  /** Add a run only with this much memory free (a vitest run takes about 250 MB). Default 768 MiB. */
  freeBytesToGrow?: number;
  /** Where the samples come from (tests give their own). Default: machineSampler(). */
  sample?: () => MachineSample;
}

export interface PoolReport {
  runs: number;
  /** Wall time of the whole batch, ms. */
  wallMs: number;
  /** Mean share of the machine's CPU that was busy while the batch ran, 0–1 (null: no sample). */
  cpuBusy: number | null;
  /** Fewest and most runs allowed in flight during the batch. */
  limits: { start: number; least: number; most: number };
}

/**
 * mapLimit whose limit follows the machine instead of a constant: test runs spend much of
 * their time waiting (timers, PostgreSQL, Redis, a child starting), so as many runs as cores
 * leaves the CPU idle. Every `intervalMs` it samples the CPU: when every slot was busy and
 * at least `idleToGrow` of the CPU still sat idle (and memory is free), one more run may
 * start; when the CPU was saturated, one fewer (never below `min`). A run already started
 * is never stopped. Results keep the order of `items`.
 */
export async function mapAdaptive<T, R>(
  items: readonly T[],
  options: AdaptiveOptions,
  fn: (item: T, index: number) => Promise<R>,
): Promise<{ results: R[]; report: PoolReport }> {
  const cores = availableParallelism();
  const min = Math.max(1, options.min ?? cores);
  const max = Math.max(min, options.max ?? Math.min(8, cores * 2));
  const idleToGrow = options.idleToGrow ?? 0.3;
  const idleToShrink = options.idleToShrink ?? 0.05;
  const freeBytesToGrow = options.freeBytesToGrow ?? 768 * 1024 * 1024;
  const sample = options.sample ?? machineSampler();
  const started = performance.now();
  const results = new Array<R>(items.length);
  let next = 0;
  let inFlight = 0;
  let limit = Math.min(min, Math.max(1, items.length));
  let least = limit;
  let most = limit;
  /** Every slot was taken at some moment of the current interval. */
  let saturated = false;
  const busy: number[] = [];
  let wake: (() => void) | undefined;
  let failure: { error: unknown } | undefined;

  const timer = setInterval(() => {
    const s = sample();
    busy.push(1 - s.idle);
    if (saturated && s.idle >= idleToGrow && s.freeBytes >= freeBytesToGrow && limit < max) limit++;
    else if (s.idle < idleToShrink && limit > min) limit--;
    least = Math.min(least, limit);
    most = Math.max(most, limit);
    saturated = inFlight >= limit;
    wake?.();
  }, options.intervalMs ?? 1_000);
  timer.unref();

  try {
    await new Promise<void>((resolve) => {
      const pump = () => {
        if (failure) {
          if (inFlight === 0) resolve();
          return;
        }
        while (inFlight < limit && next < items.length) {
          const i = next++;
          inFlight++;
          if (inFlight >= limit) saturated = true;
          fn(items[i] as T, i)
            .then(
              (r) => {
                results[i] = r;
              },
              (error: unknown) => {
                failure ??= { error };
              },
            )
            .finally(() => {
              inFlight--;
              pump();
            });
        }
        if (inFlight === 0 && (next >= items.length || failure)) resolve();
      };
      wake = pump;
      pump();
    });
  } finally {
    clearInterval(timer);
  }
  if (failure) throw failure.error;
  return {
    results,
    report: {
      runs: items.length,
      wallMs: performance.now() - started,
      cpuBusy: busy.length > 0 ? busy.reduce((a, b) => a + b, 0) / busy.length : null,
      limits: { start: Math.min(min, Math.max(1, items.length)), least, most },
    },
  };
}

/** "152 runs in 6 min 12 s (0.41 runs/s), CPU 81% busy, 2–4 at a time" */
export function describePool(report: PoolReport): string {
  const seconds = report.wallMs / 1000;
  // Whole seconds first, then minutes: 659.6 s is "11 min 0 s", never "10 min 60 s".
  const whole = Math.round(seconds);
  const wall = seconds >= 60 ? `${Math.floor(whole / 60)} min ${whole % 60} s` : `${seconds.toFixed(1)} s`;
  const rate = seconds > 0 ? (report.runs / seconds).toFixed(2) : '–';
  const cpu = report.cpuBusy === null ? '' : `, CPU ${Math.round(report.cpuBusy * 100)}% busy`;
  const { least, most } = report.limits;
  const slots = least === most ? `${most} at a time` : `${least}–${most} at a time`;
  return `${report.runs} run${report.runs === 1 ? '' : 's'} in ${wall} (${rate} runs/s)${cpu}, ${slots}`;
}
