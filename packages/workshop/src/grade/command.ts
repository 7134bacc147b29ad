import { relative, resolve } from 'node:path';
import { requireServices } from '../commands/doctor.ts';
import { describePool } from '../concurrency.ts';
import { c, fail, info, mark, ok, UserError, warn } from '../output.ts';
import { REPO_ROOT } from '../repo.ts';
import { type GradeEvent, gradeSubmissions, hasResults } from './grade.ts';
import { mergeOutputs } from './merge.ts';
import { createBatchProgress, formatDuration } from './progress.ts';
import { loadGradebook, statistics } from './reports/model.ts';
import { formatScore, integrityReasons, isCleanPass, outcomeOf, round2, scoreOf } from './score.ts';
import { describeFindings } from './tamper.ts';
import type { StoredResult } from './types.ts';

/**
 * `cachelab grade` and `cachelab grade merge`, as the instructor sees them: options checked
 * with a message that names the fix, one line per graded submission, a progress line with
 * an ETA on a terminal, a summary at the end, and where the reports are.
 */

export interface GradeCliOptions {
  exercises?: string;
  out?: string;
  concurrency?: string;
  timeout?: string;
  allOrNothing?: boolean;
  resume?: boolean;
  shard?: string;
  root?: string;
  requireSandbox?: boolean;
}

/** Paths typed by the instructor are relative to where they typed them (npm run changes the cwd). */
const userCwd = () => process.env.INIT_CWD || process.cwd();

function wholeNumber(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UserError(`${name} must be a whole number ≥ ${min}, not "${value}" (e.g. ${name} 4).`, 2);
  return n;
}

export function parseShard(value: string | undefined): { index: number; count: number } | null {
  if (value === undefined) return null;
  const m = /^(\d+)\/(\d+)$/.exec(value.trim());
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index < 1 || index > count)
    throw new UserError(
      `--shard must be i/n with 1 ≤ i ≤ n, not "${value}" (e.g. --shard 2/3 grades the second third).`,
      2,
    );
  return { index, count };
}

/**
 * Text from a submission (integrity reasons name its tests, which its code may register; the
 * flagged files are named as it names them; a clone's errors quote its server) on the instructor's terminal: control characters shown
 * as escapes, never sent. An escape sequence could move the cursor over the lines above and
 * rewrite "integrity 0.00" as full marks, set the window title or the clipboard; a newline
 * could print a line of its own.
 */
export const printable = (text: string) =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are what it removes
  text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (ch) =>
    ch === '\n' ? '\\n' : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );

const display = (path: string) => {
  const rel = relative(userCwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
};

function exerciseMark(result: StoredResult, score: number): string {
  const id = result.exercise.id;
  switch (outcomeOf(result)) {
    case 'pass':
      return `${id} ${mark.ok} ${formatScore(score)}`;
    case 'fail':
      return `${id} ${mark.fail} ${formatScore(score)}`;
    case 'timeout':
      return `${id} ${c.magenta('timeout')} 0.00`;
    case 'integrity':
      return `${id} ${c.red('integrity')} 0.00`;
    case 'not submitted':
      return `${id} ${c.dim('not submitted')} 0.00`;
    default:
      return `${id} ${c.red('error')} 0.00`;
  }
}

/** How often the grader checks that the process that started it is still there. */
const PARENT_POLL_MS = 1000;

/**
 * Stop the batch, as Ctrl-C does, when the grader is told to or is left alone:
 *  - SIGINT, SIGTERM and SIGHUP (the terminal closed) abort it; a second one exits at once;
 *  - its parent dying aborts it too. `npm run grade` is npm → sh → node: killing npm leaves
 *    node running as an orphan that keeps writing into --out. An orphan's parent changes (to
 *    init or a subreaper), so process.ppid is polled every second.
 * Aborting kills the runs under way (they are not stored) and writes the reports of what
 * was graded. Returns the function that removes the handlers.
 */
export function stopOnSignalsOrOrphaning(controller: AbortController): () => void {
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const signal of signals) process.on(signal, onSignal);
  const parent = process.ppid;
  const poll = setInterval(() => {
    if (process.ppid === parent || controller.signal.aborted) return;
    warn('The process that started the grader has gone: stopping the batch (the reports cover what was graded).');
    controller.abort();
  }, PARENT_POLL_MS);
  poll.unref();
  // With the parent gone, stdout may be a pipe nobody reads: a write must not kill the
  // grader before it has stopped its runs and written the reports.
  const ignoreBrokenPipe = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  };
  process.stdout.on('error', ignoreBrokenPipe);
  process.stderr.on('error', ignoreBrokenPipe);
  return () => {
    clearInterval(poll);
    for (const signal of signals) process.off(signal, onSignal);
    process.stdout.off('error', ignoreBrokenPipe);
    process.stderr.off('error', ignoreBrokenPipe);
  };
}

export async function gradeCommand(sources: string[], options: GradeCliOptions): Promise<number> {
  if (sources.length === 0)
    throw new UserError(
      'Name the submissions to grade: folders, .zip files or git URLs, e.g. `npm run grade -- submissions/*`.',
      2,
    );
  const concurrency = wholeNumber('--concurrency', options.concurrency, 1);
  const timeout = options.timeout === undefined ? undefined : Number(options.timeout);
  if (timeout !== undefined && !(timeout > 0))
    throw new UserError(
      `--timeout is in seconds and must be positive, not "${options.timeout}" (e.g. --timeout 90).`,
      2,
    );
  const shard = parseShard(options.shard);
  const root = resolve(userCwd(), options.root ?? REPO_ROOT);
  const out = resolve(userCwd(), options.out ?? resolve(REPO_ROOT, 'grades'));
  const allOrNothing = options.allOrNothing ?? false;

  await requireServices();
  if (hasResults(out) && !options.resume)
    info(
      `${display(out)} already holds grades: each run graded now replaces its old result (--resume keeps the results of unchanged code).`,
    );

  const controller = new AbortController();
  const removeStopHandlers = stopOnSignalsOrOrphaning(controller);

  let progress: ReturnType<typeof createBatchProgress> | undefined;
  let points = new Map<string, number>();
  const onEvent = (event: GradeEvent) => {
    switch (event.type) {
      case 'start': {
        points = new Map(event.exercises.map((e) => [e.name, e.points]));
        const timeoutText = timeout ? `timeout ${timeout} s per exercise` : "each exercise's own timeout";
        info(
          `Grading ${event.submissions.length} submission${event.submissions.length === 1 ? '' : 's'} × ${event.exercises.length} exercise${event.exercises.length === 1 ? '' : 's'}${shard ? ` (shard ${shard.index}/${shard.count})` : ''}: ${event.total} runs, ${event.adaptiveMax ? `${event.concurrency} at a time, up to ${event.adaptiveMax} while the CPU sits idle` : `${event.concurrency} at a time`}, ${timeoutText}, ${allOrNothing ? 'all-or-nothing' : 'partial credit'}.`,
        );
        if (event.sandbox.sandboxed)
          info(
            'Each run is sandboxed: its own user, namespaces, read-only tests, its own database role and Redis user.',
          );
        else
          warn(
            `NOT sandboxed: ${event.sandbox.reason}. The submitted code runs as your user; every report says so. Use --require-sandbox to refuse instead.`,
          );
        progress = createBatchProgress(event.total);
        break;
      }
      case 'run-start':
        progress?.runStarted();
        break;
      case 'run':
        progress?.runDone(event.ran, event.resumed);
        break;
      case 'submission': {
        const scores = event.results.map((r) => scoreOf(r, points.get(r.exercise.name) ?? 0, allOrNothing));
        const total = round2(scores.reduce((a, b) => a + b, 0));
        const max = round2([...points.values()].reduce((a, b) => a + b, 0));
        const allPass = event.results.every((r) => isCleanPass(r));
        const marks = event.results.map((r, i) => exerciseMark(r, scores[i] ?? 0)).join(' · ');
        progress?.line(
          `${allPass ? mark.ok : mark.fail} ${c.bold(event.record.id)}  ${formatScore(total)}/${formatScore(max)}  ${marks}  ${c.dim(`[${progress.count()}]`)}`,
        );
        const tamper = event.results.flatMap((r) => r.tamper);
        if (tamper.length > 0)
          progress?.line(
            `  ${mark.warn} ${c.yellow('flagged')}: ${printable(describeFindings(tamper))} differ from the pristine copies (graded on the pristine ones).`,
          );
        for (const r of event.results) {
          const reasons = integrityReasons(r);
          if (reasons.length > 0)
            progress?.line(
              `  ${mark.fail} ${c.red('integrity')}: ${r.exercise.name} scores 0: ${printable(reasons.join('; '))}.`,
            );
        }
        if (event.record.error) progress?.line(`  ${mark.warn} ${printable(event.record.error)}`);
        break;
      }
    }
  };

  let outcome: Awaited<ReturnType<typeof gradeSubmissions>>;
  try {
    outcome = await gradeSubmissions({
      sources,
      cwd: userCwd(),
      root,
      out,
      allOrNothing,
      resume: options.resume ?? false,
      shard,
      requireSandbox: options.requireSandbox ?? false,
      signal: controller.signal,
      onEvent,
      ...(options.exercises ? { exercises: options.exercises.split(',').map((s) => s.trim()) } : {}),
      ...(concurrency ? { concurrency } : {}),
      ...(timeout ? { timeoutSeconds: timeout } : {}),
    });
  } finally {
    progress?.stop();
    removeStopHandlers();
  }
  const { graded, resumed } = outcome;
  const runs = `${graded} run${graded === 1 ? '' : 's'}${resumed ? `, ${resumed} kept from before by --resume` : ''}`;
  printSummary(out, (n) =>
    outcome.interrupted
      ? `Stopped after ${formatDuration(outcome.wallMs)} (${runs}); the reports cover what was graded of ${n}`
      : `Graded ${n} in ${formatDuration(outcome.wallMs)} (${runs})`,
  );
  if (outcome.graded > 0) info(`The machine: ${describePool(outcome.pool)}.`);
  if (outcome.interrupted) {
    warn(
      `Interrupted: the runs under way were stopped and not stored. Continue with the same command and --resume (${outcome.graded + outcome.resumed} results kept).`,
    );
    return 130;
  }
  if (shard && shard.count > 1)
    console.log(
      `Next: when every shard is done, \`npx cachelab grade merge <shard outputs…> --out <folder>\` builds one gradebook.`,
    );
  return 0;
}

/** The summary: `headline` says what was done to "N submissions"; then scores, flags, errors, reports. */
function printSummary(out: string, headline: (submissions: string) => string): void {
  const book = loadGradebook(out);
  const s = statistics(book);
  console.log('');
  ok(
    `${headline(`${s.submissions} submission${s.submissions === 1 ? '' : 's'}`)}. Mean ${formatScore(s.mean)} of ${formatScore(book.max)}, median ${formatScore(s.median)}, ${s.fullMarks} with full marks.`,
  );
  if (s.flagged.length > 0)
    warn(
      `${s.flagged.length} flagged (tests or configuration differ from the pristine copies): ${s.flagged.join(', ')}.`,
    );
  else ok('No submission changed its tests or configuration.');
  if (s.integrity.length > 0)
    fail(
      `${s.integrity.length} failed an integrity check (skipped or missing tests, a tripwire, a patched framework, a forged report); each such exercise scores 0: ${s.integrity.join(', ')}.`,
    );
  if (s.errors + s.timeouts > 0)
    fail(
      `${s.errors} run${s.errors === 1 ? '' : 's'} ended in an error (no test could run) and ${s.timeouts} in a timeout; each scores 0. The report has the details.`,
    );
  if (s.notSubmitted > 0)
    warn(
      `${s.notSubmitted} exercise${s.notSubmitted === 1 ? '' : 's'} not submitted (no src/ or an empty one); each scores 0. To grade only some exercises: --exercises 03,04.`,
    );
  if (s.missing > 0) warn(`${s.missing} run${s.missing === 1 ? '' : 's'} not graded.`);
  console.log(
    `Reports: ${display(`${out}/index.html`)} · ${display(`${out}/gradebook.csv`)} · ${display(`${out}/junit.xml`)} · ${display(out)}/<id>/results.json`,
  );
}

export async function mergeCommand(dirs: string[], options: { out?: string }): Promise<number> {
  const started = Date.now();
  const out = resolve(userCwd(), options.out ?? resolve(REPO_ROOT, 'grades'));
  const outcome = mergeOutputs(
    dirs.map((d) => resolve(userCwd(), d)),
    out,
  );
  printSummary(
    out,
    (n) =>
      `Merged ${dirs.length} output${dirs.length === 1 ? '' : 's'} into ${display(out)} in ${formatDuration(Date.now() - started)}: ${n}`,
  );
  if (outcome.missing.length > 0)
    warn(
      `${outcome.missing.length} submission${outcome.missing.length === 1 ? ' was' : 's were'} graded by none of them: ${outcome.missing.join(', ')}. Is a shard missing?`,
    );
  return outcome.missing.length > 0 ? 1 : 0;
}
