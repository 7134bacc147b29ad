import { createColors } from 'picocolors';

/** Is colour wanted on stdout? A TTY, and neither NO_COLOR nor FORCE_COLOR=0 says otherwise. */
export function colourWanted(): boolean {
  if (process.env.NO_COLOR || process.env.FORCE_COLOR === '0') return false;
  if (process.env.FORCE_COLOR) return true;
  return process.stdout.isTTY === true;
}

/**
 * How the CLI talks: one line per outcome — a mark, what, where — colour only on a TTY
 * (NO_COLOR and FORCE_COLOR say otherwise), readable on light and dark terminals (no dim
 * grey for anything that matters). Not picocolors' own default: it colours whenever `CI` is
 * set, so a report piped to a file in CI would be full of escape codes.
 */
const pc = createColors(colourWanted());

export const mark = {
  ok: pc.green('✓'),
  fail: pc.red('✗'),
  warn: pc.yellow('!'),
  info: pc.cyan('›'),
  todo: '○',
};

export const c = pc;

export function ok(line: string): void {
  console.log(`${mark.ok} ${line}`);
}
export function fail(line: string): void {
  console.log(`${mark.fail} ${line}`);
}
export function warn(line: string): void {
  console.log(`${mark.warn} ${line}`);
}
export function info(line: string): void {
  console.log(`${mark.info} ${line}`);
}

/** Indent every line of `text` by `n` spaces. */
export function indent(text: string, n = 4): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((l) => (l.length > 0 ? pad + l : l))
    .join('\n');
}

/** An error the user can fix: printed as one line with its fix, no stack trace. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * A spinner-less progress line for anything that takes more than a second: on a TTY it
 * rewrites one line with the elapsed seconds; elsewhere it prints the start line once.
 */
export function progress(label: string): { done(result?: string): void } {
  const started = Date.now();
  const tty = process.stdout.isTTY === true;
  let timer: NodeJS.Timeout | undefined;
  if (tty) {
    const draw = () =>
      process.stdout.write(`\r${mark.info} ${label} ${pc.cyan(`${((Date.now() - started) / 1000).toFixed(0)}s`)}  `);
    draw();
    timer = setInterval(draw, 250);
  } else {
    console.log(`${mark.info} ${label}`);
  }
  return {
    done(result) {
      if (timer) clearInterval(timer);
      if (tty) process.stdout.write('\r\x1b[2K');
      if (result) console.log(result);
    },
  };
}
