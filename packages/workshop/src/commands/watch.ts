import { relative } from 'node:path';
import { createInterface } from 'node:readline';
import { inCourseOrder, resolveExercise } from '../choose.ts';
import { type SrcWatcher, watchSrc } from '../file-watch.ts';
import { readHints } from '../hints.ts';
import { learnerSrc } from '../learner.ts';
import { c, mark } from '../output.ts';
import { loadProgress, updateProgress } from '../progress.ts';
import { type Exercise, listExercises, REPO_ROOT } from '../repo.ts';
import { describeResult } from '../result-view.ts';
import { type RunResult, runExercise } from '../runner/run-exercise.ts';
import { readServiceNeeds } from '../services.ts';
import { requireServices } from './doctor.ts';
import { renderMarkdown } from './read.ts';
import { applyReset, describePlan, isPristine, planReset, type ResetPlan } from './reset.ts';

/**
 * `cachelab watch` — solve the exercises one after another, rustlings-style:
 *  1. test the first exercise not solved yet (or the one named);
 *  2. test it again on every save in its src/ (a save during a run stops that run and
 *     starts a new one); show only what matters: the failing checks first, in the tests'
 *     own words, and the keys;
 *  3. when it passes, record it and move on to the next unsolved exercise, and test that;
 *  4. stop on q, Ctrl-C or SIGTERM: the run in progress is killed with its whole process
 *     group, the terminal is restored.
 *
 * Keys, on a terminal (one key, no Enter): h hint · l list · c check all · r reset · q quit ·
 * Enter test again. Without a terminal (a pipe, an editor's task runner, the tests) the
 * same letters are read one per line, and the screen is appended to instead of redrawn.
 */
export interface WatchOptions {
  /** Look for saves by polling instead of file events. */
  poll?: boolean;
}

type View = 'result' | 'list' | 'check' | 'confirm-reset';

const KEYS = `${c.bold('h')} hint · ${c.bold('l')} list · ${c.bold('c')} check all · ${c.bold('r')} reset · ${c.bold('q')} quit · ${c.bold('Enter')} test again`;

/** What watch says when it stops, whichever way: q, Ctrl-D, Ctrl-C (a key on a terminal, SIGINT elsewhere) or SIGTERM. */
const STOPPED = 'Stopped watching. Carry on any time with `npx cachelab watch`.';

export async function watch(query: string | undefined, options: WatchOptions = {}): Promise<number> {
  const first = resolveExercise(query);
  // Before the session takes the keys, Ctrl-C is a signal: checking the services, or seeding
  // the database the first time, can take seconds, and stopping then says the same as later.
  const early = () => {
    console.log(`\n${STOPPED}`);
    process.exit(0);
  };
  process.once('SIGINT', early);
  process.once('SIGTERM', early);
  try {
    // The first exercise's services; a later one that needs more says so when its tests start.
    await requireServices(readServiceNeeds(first.dir), { who: `exercise ${first.id}` });
  } finally {
    process.off('SIGINT', early);
    process.off('SIGTERM', early);
  }
  return new Promise<number>((resolve) => new WatchSession(first, options, resolve).start());
}

class WatchSession {
  #exercise: Exercise;
  readonly #options: WatchOptions;
  readonly #done: (code: number) => void;
  readonly #tty = process.stdout.isTTY === true;
  readonly #keysTty = process.stdin.isTTY === true;
  #watcher: SrcWatcher | undefined;
  #run:
    | { abort: AbortController; finished: Promise<RunResult | undefined>; started: number; reason: string }
    | undefined;
  #ticker: NodeJS.Timeout | undefined;
  #result: RunResult | undefined;
  #banner: string[] = [];
  #notice: string[] = [];
  #hint: string[] = [];
  #view: View = 'result';
  #checkLines: string[] = [];
  #resetPlan: ResetPlan | undefined;
  #ignoreSavesUntil = 0;
  #stopping = false;
  #readline: ReturnType<typeof createInterface> | undefined;
  readonly #onKeyData = (data: Buffer) => {
    for (const ch of data.toString('utf8')) this.#key(ch);
  };
  readonly #onSignal = () => void this.#quit();
  readonly #onResize = () => this.#render();

  constructor(exercise: Exercise, options: WatchOptions, done: (code: number) => void) {
    this.#exercise = exercise;
    this.#options = options;
    this.#done = done;
  }

  start(): void {
    // `on`, not `once`: a second Ctrl-C while the run is being stopped must not end the
    // process half-way, without a word (#quit ignores it).
    process.on('SIGINT', this.#onSignal);
    process.on('SIGTERM', this.#onSignal);
    if (this.#tty) process.stdout.on('resize', this.#onResize);
    if (this.#keysTty) {
      process.stdin.setRawMode(true);
      process.stdin.resume();
      process.stdin.on('data', this.#onKeyData);
    } else {
      // One command per line; an empty line tests again. When stdin ends, keep watching:
      // Ctrl-C or SIGTERM still stop it.
      this.#readline = createInterface({ input: process.stdin, terminal: false });
      this.#readline.on('line', (line) => this.#key(line.trim().charAt(0) || '\r'));
    }
    this.#watchCurrent();
    void this.#test('first run');
  }

  // ------------------------------------------------------------------------------------
  // Saves and runs

  #watchCurrent(): void {
    this.#watcher?.close();
    const dir = learnerSrc(this.#exercise);
    this.#watcher = watchSrc(dir, (file) => this.#saved(file), {
      ...(this.#options.poll ? { poll: true } : {}),
      onFallback: (reason) => {
        this.#notice = [`${mark.warn} File events stopped (${reason}); looking for saves every 0.5 s instead.`];
        this.#render();
      },
    });
  }

  #saved(file: string): void {
    if (this.#stopping || Date.now() < this.#ignoreSavesUntil) return;
    if (this.#view === 'confirm-reset') return;
    void this.#test(`you saved ${file || 'a file'}`);
  }

  /** Test the current exercise; a run already in progress is stopped first. */
  async #test(reason: string): Promise<void> {
    await this.#stopRun();
    if (this.#stopping) return;
    const exercise = this.#exercise;
    const abort = new AbortController();
    const started = Date.now();
    const finished = runExercise({
      exercise,
      srcDir: learnerSrc(exercise),
      label: `watch-${exercise.id}`,
      signal: abort.signal,
      moduleCache: true,
    }).catch((): undefined => undefined);
    this.#run = { abort, finished, started, reason };
    this.#view = 'result';
    this.#render();
    this.#ticker = this.#tty ? setInterval(() => this.#drawStatus(), 250) : undefined;
    const result = await finished;
    if (this.#run?.abort !== abort) return; // stopped: a newer run, a reset or quit took over
    this.#endRun();
    if (!result || this.#stopping) return;
    this.#result = result;
    if (result.status === 'pass') {
      updateProgress((p) => {
        p.solved[exercise.id] ??= new Date().toISOString();
      });
      this.#hint = [];
      const next = nextUnsolved(exercise);
      this.#banner = [describeResult(result)[0] ?? ''];
      if (!next) {
        this.#banner.push(c.green('Every exercise is solved. Well done!'));
        this.#render();
        await this.#quit();
        return;
      }
      this.#banner.push(
        `${mark.info} On to ${next.id} ${next.slug}: ${next.title}. Compare yours with the reference later: \`npx cachelab diff ${exercise.id}\`.`,
      );
      this.#exercise = next;
      this.#result = undefined;
      this.#watchCurrent();
      void this.#test(`${exercise.id} passed`);
      return;
    }
    this.#render();
  }

  #endRun(): void {
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    this.#run = undefined;
  }

  /** Kill the run in progress (its whole process group) and wait until it has cleaned up. */
  async #stopRun(): Promise<void> {
    const run = this.#run;
    if (!run) return;
    this.#endRun();
    run.abort.abort();
    await run.finished;
  }

  // ------------------------------------------------------------------------------------
  // Keys

  #key(ch: string): void {
    if (this.#stopping) return;
    if (this.#view === 'confirm-reset') {
      this.#view = 'result';
      if (ch === 'y' || ch === 'Y') void this.#doReset();
      else {
        this.#notice = ['Not reset.'];
        this.#render();
      }
      return;
    }
    switch (ch) {
      case 'q':
      case '\u0003': // Ctrl-C in raw mode
      case '\u0004': // Ctrl-D
        void this.#quit();
        return;
      case 'h':
        this.#showHint();
        return;
      case 'l':
        this.#view = this.#view === 'list' ? 'result' : 'list';
        this.#render();
        return;
      case 'c':
        void this.#checkAll();
        return;
      case 'r':
        this.#askReset();
        return;
      case '\r':
      case '\n':
      case ' ':
        this.#banner = [];
        void this.#test('you asked');
        return;
      default:
        if (this.#view !== 'result') {
          this.#view = 'result';
          this.#render();
        }
    }
  }

  #showHint(): void {
    const hints = readHints(this.#exercise);
    if (hints.length === 0) {
      this.#hint = [`${mark.info} Exercise ${this.#exercise.id} has no hints.`];
    } else {
      const seen = loadProgress().hints[this.#exercise.id] ?? 0;
      const index = Math.min(seen, hints.length - 1);
      updateProgress((p) => {
        p.hints[this.#exercise.id] = Math.min(index + 1, hints.length);
      });
      const more = index + 1 < hints.length ? 'press h again for the next one' : 'that was the last one';
      this.#hint = [
        c.bold(c.cyan(`Hint ${index + 1} of ${hints.length}`)) + c.dim(`  (${more})`),
        renderMarkdown(hints[index] ?? '').trimEnd(),
      ];
    }
    this.#view = 'result';
    this.#render();
  }

  #askReset(): void {
    let plan: ResetPlan;
    try {
      plan = planReset(this.#exercise);
    } catch (err) {
      this.#notice = [`${mark.fail} ${err instanceof Error ? err.message : String(err)}`];
      this.#render();
      return;
    }
    if (isPristine(plan)) {
      this.#notice = [
        `${mark.ok} ${this.#exercise.id} ${this.#exercise.slug} is already the starter: nothing to reset.`,
      ];
      this.#render();
      return;
    }
    this.#resetPlan = plan;
    this.#view = 'confirm-reset';
    this.#render();
  }

  async #doReset(): Promise<void> {
    const plan = this.#resetPlan;
    if (!plan) return;
    await this.#stopRun();
    this.#ignoreSavesUntil = Date.now() + 1_000; // our own writes are not the learner's saves
    const backup = applyReset(plan);
    this.#watchCurrent(); // src/ may not have existed before: file events can start now
    this.#banner = [];
    this.#notice = [
      `${mark.ok} ${plan.exercise.id} ${plan.exercise.slug} is back to its starter.${backup ? ` Your version: ${relative(process.cwd(), backup) || backup}` : ''}`,
    ];
    await this.#test('reset');
  }

  async #checkAll(): Promise<void> {
    await this.#stopRun();
    const exercises = listExercises();
    const abort = new AbortController();
    this.#view = 'check';
    this.#banner = [];
    this.#checkLines = [];
    const started = Date.now();
    const results: RunResult[] = [];
    const all = (async () => {
      for (const [i, e] of exercises.entries()) {
        if (abort.signal.aborted) return undefined;
        this.#checkLines.push(`${c.cyan('…')} ${e.id} ${e.slug} ${c.dim(`(${i + 1} of ${exercises.length})`)}`);
        this.#render();
        const r = await runExercise({
          exercise: e,
          srcDir: learnerSrc(e),
          label: `watch-check-${e.id}`,
          signal: abort.signal,
          moduleCache: true,
        });
        if (abort.signal.aborted) return undefined;
        results.push(r);
        if (r.status === 'pass') {
          updateProgress((p) => {
            p.solved[e.id] ??= new Date().toISOString();
          });
        }
        this.#checkLines[this.#checkLines.length - 1] =
          r.status === 'pass'
            ? `${mark.ok} ${e.id} ${e.slug}: ${r.message}`
            : `${mark.fail} ${e.id} ${e.slug}: ${r.message}`;
      }
      return results.at(-1);
    })();
    this.#run = { abort, finished: all, started, reason: 'check all' };
    this.#ticker = this.#tty ? setInterval(() => this.#drawStatus(), 250) : undefined;
    await all;
    if (this.#run?.abort !== abort) return;
    this.#endRun();
    const solved = results.filter((r) => r.status === 'pass').length;
    this.#checkLines.push('', `${solved} of ${exercises.length} exercises pass.`);
    const next = nextUnsolved();
    if (next && next.id !== this.#exercise.id) {
      this.#exercise = next;
      this.#result = undefined;
      this.#watchCurrent();
    }
    this.#result = results.find((r) => r.exercise.id === this.#exercise.id) ?? this.#result;
    if (!next) this.#checkLines.push(c.green('Every exercise is solved. Well done!'));
    else this.#checkLines.push(`Watching ${next.id} ${next.slug}. Press any key for its result.`);
    this.#render();
  }

  async #quit(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await this.#stopRun();
    this.#watcher?.close();
    process.off('SIGINT', this.#onSignal);
    process.off('SIGTERM', this.#onSignal);
    process.stdout.off('resize', this.#onResize);
    if (this.#keysTty) {
      process.stdin.off('data', this.#onKeyData);
      process.stdin.setRawMode(false);
    }
    this.#readline?.close();
    process.stdin.pause();
    console.log(`\n${STOPPED}`);
    this.#done(0);
  }

  // ------------------------------------------------------------------------------------
  // Screen

  #render(): void {
    if (this.#stopping && this.#banner.length === 0) return;
    const e = this.#exercise;
    const src = shown(learnerSrc(e));
    const width = this.#tty ? process.stdout.columns : undefined;
    const top = [
      `${c.bold(`cachelab watch · ${e.id} ${e.slug}`)} — ${e.title}`,
      c.dim(`Edit ${src}/ · the task: ${shown(`${e.dir}/README.md`)}`),
      '',
      ...(this.#banner.length > 0 ? [...this.#banner, ''] : []),
    ];
    const bottom = [
      ...(this.#hint.length > 0 && this.#view === 'result' ? ['', ...this.#hint] : []),
      ...(this.#notice.length > 0 ? ['', ...this.#notice] : []),
      '',
      progressLine(),
      KEYS,
    ];
    const body: string[] = [];
    if (this.#view === 'list') {
      body.push(...this.#list(), '', c.dim('Press any key to go back.'));
    } else if (this.#view === 'check') {
      body.push(c.bold('Check all'), ...this.#checkLines);
    } else if (this.#view === 'confirm-reset' && this.#resetPlan) {
      body.push(`Reset ${e.id} ${e.slug} to its starter? A copy of your src/ goes to .cachelab/backups/.`);
      body.push(...describePlan(this.#resetPlan), '', `${c.bold('y')} to reset, any other key to keep your code.`);
    } else if (this.#result) {
      // While a new run goes on, the last result stays: the status line says it is running.
      // Fit one screen on a terminal: the top (what to edit) must not scroll away.
      const taken = [...top, ...bottom].reduce((n, l) => n + screenRows(l, width), 0) + 1;
      const rows = process.stdout.rows;
      body.push(
        ...describeResult(this.#result, {
          srcDir: null, // the header says where to edit
          detailed: 3,
          named: 8,
          ...(width ? { width } : {}),
          ...(this.#tty && rows ? { maxLines: Math.max(4, rows - taken) } : {}),
        }),
      );
    }
    if (this.#tty) process.stdout.write('\x1b[2J\x1b[3J\x1b[H');
    else process.stdout.write(`${'─'.repeat(60)}\n`);
    process.stdout.write(`${[...top, ...body, ...bottom].join('\n')}\n`);
    this.#notice = [];
    this.#drawStatus(true);
  }

  /** The last line: what is happening now (rewritten in place on a terminal). */
  #drawStatus(first = false): void {
    const run = this.#run;
    const watching = this.#watcher?.mode === 'poll' ? 'looking for saves every 0.5 s' : 'watching for saves';
    const text = run
      ? `${mark.info} Testing ${run.reason === 'check all' ? 'every exercise' : `${this.#exercise.id} ${this.#exercise.slug}`} (${run.reason})… ${c.cyan(`${Math.floor((Date.now() - run.started) / 1000)}s`)}`
      : c.dim(`${watching} in ${shown(learnerSrc(this.#exercise))}/`);
    if (this.#tty) process.stdout.write(`\r\x1b[2K${text}`);
    else if (first) process.stdout.write(`${text}\n`);
  }

  #list(): string[] {
    const solved = loadProgress().solved;
    return inCourseOrder(listExercises()).map((e) => {
      const here = e.id === this.#exercise.id;
      const line = `${solved[e.id] ? mark.ok : here ? c.cyan('▶') : mark.todo} ${e.id} ${e.slug} — ${e.title}`;
      return here ? c.bold(line) : line;
    });
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: measuring text without its colour codes
const ANSI = /\x1b\[[0-9;]*m/g;

/** Rows a line takes on a terminal `width` columns wide (1 when the width is unknown). */
function screenRows(line: string, width: number | undefined): number {
  return line
    .split('\n')
    .reduce((n, l) => n + (width ? Math.max(1, Math.ceil(l.replace(ANSI, '').length / width)) : 1), 0);
}

function shown(path: string): string {
  const r = relative(REPO_ROOT, path);
  return r && !r.startsWith('..') ? r : path;
}

/** The first unsolved exercise after `after` (wrapping to the start), or undefined when all are solved. */
function nextUnsolved(after?: Exercise): Exercise | undefined {
  const solved = loadProgress().solved;
  const all = inCourseOrder(listExercises());
  const from = after ? all.findIndex((e) => e.id === after.id) + 1 : 0;
  return [...all.slice(from), ...all.slice(0, from)].find((e) => !solved[e.id]);
}

function progressLine(width = 20): string {
  const all = listExercises();
  const solved = loadProgress().solved;
  const done = all.filter((e) => solved[e.id]).length;
  const filled = all.length === 0 ? 0 : Math.round((done / all.length) * width);
  return `${c.green('█'.repeat(filled))}${'░'.repeat(width - filled)} ${done} of ${all.length} exercises solved`;
}
