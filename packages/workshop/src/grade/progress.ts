import { c, mark } from '../output.ts';

/**
 * The batch's progress on the terminal. On a TTY: one line rewritten in place — runs done
 * of the total, a bar, runs under way, elapsed time and an ETA — with each finished
 * submission's line printed above it. Elsewhere (CI, a log file): only the plain lines,
 * each carrying the count, never a carriage return.
 *
 * The ETA is the wall time per run graded so far times the runs left; runs kept by
 * --resume take no time and do not count.
 */
export interface BatchProgress {
  runStarted(): void;
  /** A run finished: `ran` when it had started (runStarted), `resumed` when --resume kept it. */
  runDone(ran: boolean, resumed: boolean): void;
  /** Print a line (above the progress line on a TTY). */
  line(text: string): void;
  /** "37/120 runs" for plain lines. */
  count(): string;
  stop(): void;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: measuring text without its colour codes
const visibleLength = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '').length;

export function createBatchProgress(
  total: number,
  stream: NodeJS.WriteStream = process.stdout,
  now: () => number = Date.now,
): BatchProgress {
  const tty = stream.isTTY === true;
  const started = now();
  let done = 0;
  let resumed = 0;
  let running = 0;
  let drawn = false;

  const render = () => {
    const width = 24;
    const ratio = total > 0 ? done / total : 1;
    const filled = Math.round(ratio * width);
    const bar = c.cyan('█'.repeat(filled)) + '░'.repeat(width - filled);
    const elapsed = now() - started;
    const graded = done - resumed;
    const eta = graded > 0 && done < total ? formatDuration((elapsed / graded) * (total - done)) : '…';
    const percent = `${Math.floor(ratio * 100)}%`;
    const parts = {
      count: `${mark.info} ${done}/${total} runs`,
      bar: `${bar} ${percent}`,
      running: `${running} running`,
      elapsed: `${formatDuration(elapsed)} elapsed`,
      eta: done < total ? `ETA ${eta}` : 'writing reports',
    };
    // Fit the terminal: drop the elapsed time, then the runs under way, then the bar (keeping
    // the percentage); the count and the ETA always stay.
    const columns = (stream.columns ?? 80) - 1;
    const layouts = [
      [parts.count, parts.bar, parts.running, parts.elapsed, parts.eta],
      [parts.count, parts.bar, parts.running, parts.eta],
      [parts.count, parts.bar, parts.eta],
      [parts.count, percent, parts.eta],
    ];
    const line =
      layouts.map((l) => l.join('  ')).find((l) => visibleLength(l) <= columns) ??
      (layouts.at(-1) as string[]).join('  ');
    stream.write(`\r\x1b[2K${line}`);
    drawn = true;
  };
  const clear = () => {
    if (drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  const timer = tty ? setInterval(render, 500) : undefined;
  timer?.unref();
  if (tty) render();

  return {
    runStarted() {
      running++;
      if (tty) render();
    },
    runDone(ran, wasResumed) {
      done++;
      if (wasResumed) resumed++;
      if (ran) running--;
      if (tty) render();
    },
    line(text) {
      if (tty) clear();
      stream.write(`${text}\n`);
      if (tty) render();
    },
    count() {
      return `${done}/${total} runs`;
    },
    stop() {
      if (timer) clearInterval(timer);
      if (tty) clear();
    },
  };
}
