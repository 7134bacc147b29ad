import { spawn } from 'node:child_process';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Exercise } from '../repo.ts';
import { REPO_ROOT } from '../repo.ts';
import { ChannelReader, isTestTimeout, type ProgressTest } from './channel.ts';
import type { ChannelReport, ChannelTest } from './channel-reporter.ts';
import { checkIntegrity, type TestManifest } from './integrity.ts';
import { explainMissingPackage, type PathMap, pathMap, srcShownAs, toLearnerPaths } from './learner-paths.ts';
import { sandboxCommand } from './sandbox.ts';
import { describeSyntaxProblems, findSyntaxErrors, ISOLATED_DEADLINE_MS } from './syntax-check.ts';
import type { Tripwire } from './tripwires.ts';
import { listFiles, MODULE_CACHE_DIR, prepareWorkspace } from './workspace.ts';

/**
 * THE grading mechanism. `verify` (the learner's src/), `check` (starters and solutions)
 * and `grade` (students' submissions) all call `runExercise`; there is no second way of
 * running an exercise's tests.
 *
 * Steps:
 *  0. parse every source file of `srcDir`: a syntax error is the result, before any test
 *     (syntax-check.ts; a file no test imports would otherwise go unnoticed);
 *  1. build a workspace: the pristine exercise with `srcDir` as its src/ (workspace.ts);
 *     (grade: plant tripwires in the workspace's copy of the tests, tripwires.ts);
 *  2. run vitest there in its own process group, with the workshop's grading config (its
 *     setup file freezes the assertion machinery before the src/ loads), so that nothing
 *     the src/ brings can change what runs; for grade, inside the sandbox (sandbox.ts);
 *  3. kill the whole group at the timeout (an infinite loop or a hang scores as `timeout`),
 *     or, in a run that is not graded, once two tests in a row have hung until their
 *     testTimeout (`stopAfterHungTests`);
 *  4. take the report from the channel (a socket the tests' workers cannot reach, see
 *     channel-reporter.ts and channel.ts) into one result per test, with the failure
 *     message a person reads (the assertion's own message first, no stack trace, the
 *     workspace's paths turned back into the learner's, learner-paths.ts); a run stopped
 *     before its report lists what the channel's progress says: the checks that passed,
 *     those that failed and the one that was running;
 *  5. check the run's integrity (integrity.ts): no skipped test, the pinned tests and no
 *     others (grade), every tripwire failed, no finding of the setup file. A run that fails
 *     a check keeps its tests but says why in `integrity`.
 */

export type TestStatus = 'pass' | 'fail' | 'error' | 'skip';
export type { TestManifest } from './integrity.ts';
/** pass: every test passed · fail: some failed · error: no test could run · timeout: killed. */
export type RunStatus = 'pass' | 'fail' | 'error' | 'timeout';

export interface TestOutcome {
  /** "describe › test name" */
  name: string;
  /** Test file, relative to the exercise (test/app.test.ts). */
  file: string;
  status: TestStatus;
  /** Why it failed, in the test's own words; '' when it passed. */
  message: string;
  durationMs: number;
  /** The shipped starter passes it too: reported, but worth no points (grade). */
  given?: boolean;
  /** The run was stopped while this test was running, this long after it started (status 'error'). */
  stoppedAfterMs?: number;
}

export interface RunResult {
  exercise: Exercise;
  status: RunStatus;
  tests: TestOutcome[];
  passed: number;
  failed: number;
  /** One line for people: what happened overall. */
  message: string;
  durationMs: number;
  /** The tail of vitest's own output, for diagnosing errors. */
  output: string;
  /** Why the run cannot be trusted (a tripwire passed, a test was skipped…); [] when it can. */
  integrity: string[];
  /** The run happened inside the sandbox. */
  sandboxed: boolean;
  /** Lines to show under the message: the code around a syntax error. */
  detail?: string[];
  /** A run stopped before the end (timeout): how many of the tests that loaded never started. */
  notRun?: number;
}

/** How a graded run is confined (sandbox.ts); the grader builds it per run. */
export interface SandboxRequest {
  /** The complete environment of the run (nothing of the grader's is passed on). */
  env: Record<string, string>;
  /** Folder of the services' Unix sockets, bound read-only into the sandbox. */
  socketDir?: string;
  /** Read-only paths besides the repository's (the exercises' root when it is elsewhere). */
  extraReadOnly?: string[];
  /** Runs inside the sandbox before vitest (the services' forwarder); it starts vitest. */
  wrap?: (command: string[]) => string[];
}

export interface RunOptions {
  exercise: Exercise;
  /** The src/ to grade. */
  srcDir: string;
  /** Names the workspace folder (e.g. "verify", "check-starter", a student id). */
  label: string;
  /** Default: the exercise's timeoutSeconds. */
  timeoutMs?: number;
  /** Keep the workspace for inspection. Default false. */
  keep?: boolean;
  /** Extra environment for the test process. */
  env?: NodeJS.ProcessEnv;
  /** Aborts the run (kills the process group) — Ctrl-C in watch, an interrupted grade. */
  signal?: AbortSignal;
  /** Run inside the sandbox (grade). Default: as the current user (verify, check). */
  sandbox?: SandboxRequest;
  /** The tests that must run, exactly (grade: collected when the tests were pinned). */
  manifest?: TestManifest;
  /** Tripwires to plant per test file (grade). Default 0. */
  tripwires?: number;
  /** Keys `file::name` of the tests the starter passes: marked `given`. */
  given?: ReadonlySet<string>;
  /**
   * A learner's own runs (verify, watch): the same workspace folder as the last run with this
   * label, and vitest's file-system module cache, so that a re-run transforms only the files
   * that changed. Never for graded runs: nothing is shared across submissions.
   */
  moduleCache?: boolean;
  /**
   * Stop the run once this many tests in a row have failed on vitest's testTimeout (20 s):
   * the code hangs, and the tests after them would most likely hang too, each for 20 s, until
   * the run's own timeout; the result then lists what ran. 0 never stops early. Default: 2,
   * and 0 for graded runs (`manifest`): there, a run stopped early would score 0 where the
   * full run, finished within its timeout, earns credit for the tests that pass.
   */
  stopAfterHungTests?: number;
  /**
   * Stop the run at the first N failed tests (vitest's --bail). For check's wrong answers,
   * which need one failing assertion, not the full list: a wrong answer caught by its first
   * test file's first check need not wait for the real-clock tests after it. Never for
   * verify (the learner reads every failure) or grade (credit per passing test). Default: off.
   */
  bail?: number;
  /** How the src/ is named in messages. Default: srcShownAs() (`exercises/NN-slug/src`). */
  srcShownAs?: string;
  /**
   * Also run the exercise's stretch tests (`stretch/*.test.ts`, stretch.ts): 'also' with the
   * main tests (verify --stretch, check's stretch solution), 'only' without them (check's run
   * that proves the reference solution fails them). Their outcomes have files `stretch/…`.
   * Never for graded runs (`manifest` or `sandbox`): a stretch test is never required. Default: off.
   */
  stretch?: 'also' | 'only';
}

const VITEST_BIN = join(REPO_ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const GRADING_CONFIG = fileURLToPath(new URL('./vitest.grading.config.ts', import.meta.url));
const STRETCH_CONFIG = fileURLToPath(new URL('./vitest.stretch.config.ts', import.meta.url));
const CHANNEL_REPORTER = fileURLToPath(new URL('./channel-reporter.ts', import.meta.url));
/** The report channel's descriptor number in the vitest process. */
const REPORT_FD = 3;
/** A report larger than this is not a report (bytes). */
const REPORT_LIMIT = 16 * 1024 * 1024;
const OUTPUT_LIMIT = 20_000;
/** ANSI colour codes (ESC [ … m), stripped from messages people read. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

export async function runExercise(options: RunOptions): Promise<RunResult> {
  const { exercise } = options;
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? exercise.timeoutSeconds * 1000;
  const sandboxed = options.sandbox !== undefined;
  if (options.stretch && (sandboxed || options.manifest))
    throw new TypeError('RunOptions.stretch is for verify and check: a graded run (manifest, sandbox) runs test/ only');
  const base = { exercise, tests: [] as TestOutcome[], passed: 0, failed: 0, integrity: [] as string[], sandboxed };

  if (listFiles(options.srcDir).length === 0) {
    return {
      ...base,
      status: 'error',
      message: `There is no code to test: ${relative(REPO_ROOT, options.srcDir) || options.srcDir} is missing or empty.`,
      durationMs: 0,
      output: '',
    };
  }

  const shownAs = options.srcShownAs ?? srcShownAs(options.srcDir, exercise);
  // A graded src/ is parsed in a process of its own with a deadline (syntax-check.ts): some
  // inputs take esbuild minutes, and the run's timeout has not started yet.
  const syntax = await findSyntaxErrors(
    options.srcDir,
    shownAs,
    sandboxed || options.manifest ? { isolated: { deadlineMs: Math.min(ISOLATED_DEADLINE_MS, timeoutMs) } } : {},
  );
  if (syntax.length > 0) {
    return {
      ...base,
      status: 'error',
      message: describeSyntaxProblems(syntax),
      detail: syntax[0]?.frame ?? [],
      durationMs: Math.round(performance.now() - started),
      output: syntax.map((p) => [`${p.file}:${p.line}:${p.column}: ${p.text}`, ...p.frame].join('\n')).join('\n\n'),
    };
  }

  const moduleCache = options.moduleCache === true && options.sandbox === undefined;
  const workspace = prepareWorkspace(exercise, options.srcDir, options.label, { stable: moduleCache });
  const paths = { ...pathMap(workspace.dir, options.srcDir, exercise), src: shownAs };
  try {
    const testFiles = listFiles(join(workspace.dir, 'test'))
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => `test/${f}`);
    // Loaded only when planting: it needs the TypeScript compiler, a second of start-up that
    // verify and check never use.
    const tripwires: Tripwire[] = options.tripwires
      ? (await import('./tripwires.ts')).plantTripwires(workspace.dir, testFiles, options.tripwires)
      : [];
    const run = await spawnVitest(workspace.dir, timeoutMs, options);
    const { timedOut, aborted, exitCode, channel } = run;
    const output = toLearnerPaths(run.output, paths);
    const report = channel.report;
    const durationMs = Math.round(performance.now() - started);
    // (Stopped for two hung tests that were the last ones, the run may have reported anyway.)
    if (timedOut || aborted || (run.hung.length > 0 && !report)) {
      return { ...base, ...stoppedRun(run, tripwires, paths, timeoutMs, options), durationMs, output };
    }
    const parsed = report ? readReport(report, tripwires, paths, exercise) : undefined;
    if (!parsed) {
      // vitest reports a crashed worker, an import error, even a process.exit in a test; its
      // main process ending without a report means something stopped it from outside, and in
      // a graded run only the code under test shares its sandbox.
      const silenced =
        options.manifest !== undefined && exitCode !== 0 && lastMeaningfulLine(output).startsWith('RUN ');
      return {
        ...base,
        ...(silenced
          ? {
              integrity: [
                `vitest's main process ended (exit code ${exitCode}) without sending its report: the code under test stopped or disrupted it`,
              ],
            }
          : {}),
        status: 'error',
        message: `The tests could not run: ${
          lastMeaningfulLine(output).startsWith('RUN ')
            ? `vitest ended (exit code ${exitCode}) without sending its report${channel.rejected ? ` (its channel was refused: ${channel.rejected})` : ''}: its main process was stopped or disrupted`
            : `${lastMeaningfulLine(output)} (vitest ended, exit code ${exitCode}, without sending its report${channel.rejected ? `: its channel was refused: ${channel.rejected}` : ''})`
        }`,
        durationMs,
        output,
      };
    }
    const { tests, fileErrors, wires } = parsed;
    for (const test of tests) if (options.given?.has(`${test.file}::${test.name}`)) test.given = true;
    const integrity = checkIntegrity({
      tests: report?.tests.filter((t) => !wires.has(t)) ?? [],
      tripwires,
      wires: [...wires],
      fileErrors: fileErrors.map((e) => `${e.file}: ${e.text}`),
      streamed: channel.tests.flatMap((t) => (t.end ? [t.end] : [])),
      ...(options.manifest ? { manifest: options.manifest } : {}),
      bailed:
        options.bail !== undefined &&
        options.bail > 0 &&
        tests.filter((t) => t.status === 'fail' || t.status === 'error').length >= options.bail,
    });
    const passed = tests.filter((t) => t.status === 'pass').length;
    const failed = tests.filter((t) => t.status === 'fail' || t.status === 'error').length;
    if (tests.length === 0 || (passed === 0 && fileErrors.length > 0 && failed === 0)) {
      return {
        ...base,
        tests,
        integrity,
        status: 'error',
        message: `No test could run: ${fileErrors[0]?.text ?? lastMeaningfulLine(output)}`,
        durationMs,
        output,
      };
    }
    // A test file that failed to load while others ran: its tests count as failed.
    for (const error of fileErrors) {
      tests.push({
        name: 'the test file loads',
        file: error.file,
        status: 'error',
        message: error.text,
        durationMs: 0,
      });
    }
    // Every test passed but an error escaped the tests (an unhandled rejection from a
    // background promise, say). That is a bug in the code under test, and the tests' own
    // results alone would call it a pass. (The exit code cannot say it: tripwires fail.)
    if (report && report.unhandled.length > 0 && fileErrors.length === 0 && failed === 0) {
      tests.push({
        name: 'no error escapes the tests (unhandled rejections, errors thrown in callbacks)',
        file: '',
        status: 'error',
        message: `An error escaped the tests: ${cleanMessage(toLearnerPaths(report.unhandled[0] ?? '', paths)).split('\n')[0]}. Catch it where the promise is created (a background refresh, a timer, an event handler).`,
        durationMs: 0,
      });
    }
    const allFailed = tests.filter((t) => t.status !== 'pass').length;
    return {
      ...base,
      tests,
      integrity,
      passed,
      failed: allFailed,
      status: allFailed === 0 && integrity.length === 0 ? 'pass' : 'fail',
      message:
        integrity.length > 0
          ? `The run cannot be trusted: ${integrity[0]}${integrity.length > 1 ? ` (and ${integrity.length - 1} more)` : ''}.`
          : allFailed === 0
            ? `All ${passed} checks passed.`
            : `${allFailed} of ${passed + allFailed} checks failed.`,
      durationMs,
      output,
    };
  } finally {
    if (!options.keep) workspace.dispose();
  }
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * A run stopped before its report (its timeout, two hung tests in a row, or aborted): what the
 * channel's progress says happened, one outcome per test that started, the one(s) running
 * when it was stopped as errors. Progress is never a verdict: the run's status is `timeout`
 * (which scores 0 in a graded run) whatever passed before.
 */
function stoppedRun(
  run: VitestRun,
  tripwires: Tripwire[],
  paths: PathMap,
  timeoutMs: number,
  options: RunOptions,
): Pick<RunResult, 'status' | 'message' | 'tests' | 'passed' | 'failed' | 'notRun'> {
  const isWire = (t: { file: string; location?: { line: number; column: number } }) =>
    tripwires.some((w) => w.file === t.file && w.line === t.location?.line && w.column === t.location?.column);
  const stoppedEarly = run.hung.length > 0 && !run.timedOut && !run.aborted;
  const progress = run.channel.tests.filter((t) => !isWire(t));
  // Stopped early, the test that had just started when the second hang ended never really ran.
  const running = stoppedEarly ? [] : progress.filter((t) => !t.end);
  const known = new Set(progress.map((t) => t.id));
  const pending = run.channel.modules
    .flatMap((m) => m.tests.map((t) => ({ ...t, file: m.file })))
    .filter((t) => !isWire(t) && !known.has(t.id));
  // No test known to be running, yet some never started: the next one most likely was. Its
  // start went unreported because the worker sends progress at most every 100 ms, from the
  // thread the code under test blocks when it never awaits (an endless loop).
  const presumed = !stoppedEarly && running.length === 0 ? pending[0] : undefined;
  const sinceLastNews = Math.max(0, run.stoppedAt - run.channel.lastMessageAt);

  const tests: TestOutcome[] = [];
  let hungTimeoutMs = 0;
  for (const t of progress) {
    const name = t.path.join(' › ');
    if (!t.end) {
      if (stoppedEarly) continue;
      const ranMs = Math.round(Math.max(0, run.stoppedAt - t.startedAt));
      tests.push({
        name,
        file: t.file,
        status: 'error',
        message: `stopped while running (running for ${seconds(ranMs)})`,
        durationMs: ranMs,
        stoppedAfterMs: ranMs,
      });
      continue;
    }
    const timeout = t.end.errors.map((e) => /^Test timed out in (\d+)ms/.exec(e)).find(Boolean);
    if (timeout) hungTimeoutMs = Number(timeout[1]);
    const status: TestStatus = t.end.state === 'passed' ? 'pass' : t.end.state === 'failed' ? 'fail' : 'skip';
    tests.push({
      name,
      file: t.file,
      status,
      message:
        status === 'fail'
          ? cleanMessage(toLearnerPaths(t.end.errors.join('\n'), paths)) || 'The test failed.'
          : status === 'skip'
            ? 'The test did not run (skipped).'
            : '',
      durationMs: t.end.durationMs,
    });
  }
  const blocked =
    'its start was not even reported: code that never awaits, like an endless loop, blocks the test process';
  if (presumed)
    tests.push({
      name: presumed.path.join(' › '),
      file: presumed.file,
      status: 'error',
      message: `most likely running when the run was stopped (for about ${seconds(sinceLastNews)}): ${blocked}`,
      durationMs: Math.round(sinceLastNews),
      stoppedAfterMs: Math.round(sinceLastNews),
    });
  for (const test of tests) if (options.given?.has(`${test.file}::${test.name}`)) test.given = true;
  const passed = tests.filter((t) => t.status === 'pass').length;
  const failed = tests.filter((t) => t.status === 'fail').length;
  const timedOutTests = progress.filter((t) => t.end?.errors.some(isTestTimeout)).length;
  const cutShort = stoppedEarly ? progress.filter((t) => !t.end).length : 0;
  const notRun = pending.length + cutShort - (presumed ? 1 : 0);
  // Every test that did not pass counts as failed, those that never ran too: "3 of 11 passed".
  const base = { status: 'timeout' as const, tests, passed, failed: tests.length - passed + notRun, notRun };
  if (run.aborted) return { ...base, message: 'The run was stopped before it finished.' };
  const testTimeout = hungTimeoutMs ? `the ${seconds(hungTimeoutMs)} test timeout` : 'the test timeout';
  const counts = [
    `${plural(passed, 'check')} passed`,
    `${failed} failed${timedOutTests > 0 ? ` (${timedOutTests} on ${testTimeout})` : ''}`,
    ...(notRun > 0 ? [`${notRun} never ran`] : []),
  ].join(', ');
  const advice = 'Look for a promise that never settles, an endless loop, or a connection that is never closed.';
  if (stoppedEarly) {
    return {
      ...base,
      message: `Stopped early: ${plural(run.hung.length, 'check')} in a row hung until ${testTimeout}, and the ones after them would most likely hang too. ${counts}. ${advice}`,
    };
  }
  const where =
    running.length > 0
      ? ` while running: ${running.map((t) => `${t.path.join(' › ')} (running for ${seconds(run.stoppedAt - t.startedAt)})`).join('; ')}`
      : presumed
        ? ` while running, most likely: ${presumed.path.join(' › ')} (for about ${seconds(sinceLastNews)}; ${blocked})`
        : progress.length === 0 && run.channel.modules.length === 0
          ? ' before any test file had loaded (a hang as the code under test is imported, or in a beforeAll hook)'
          : '';
  const anyNews = progress.length > 0 || presumed !== undefined;
  return {
    ...base,
    message: `The tests did not finish within ${seconds(timeoutMs)} and were stopped${where}.${anyNews ? ` ${counts}.` : ''} ${advice}`,
  };
}

interface VitestRun {
  output: string;
  timedOut: boolean;
  aborted: boolean;
  /** The tests that hung in a row when the run was stopped for it; [] when it was not. */
  hung: ProgressTest[];
  /** When the run was stopped or ended (performance.now()). */
  stoppedAt: number;
  exitCode: number | null;
  /** What the channel reporter sent: its progress and its report (channel.ts). */
  channel: ChannelReader;
}

/** The environment of an unsandboxed run: the caller's, quietened, plus the channel's fd. */
function localEnv(options: RunOptions): NodeJS.ProcessEnv {
  return { ...process.env, ...options.env, ...QUIET_ENV };
}

const QUIET_ENV = { NO_COLOR: '1', FORCE_COLOR: '0', CI: 'true', CACHELAB_REPORT_FD: String(REPORT_FD) };

function spawnVitest(cwd: string, timeoutMs: number, options: RunOptions): Promise<VitestRun> {
  const vitest = [
    process.execPath,
    VITEST_BIN,
    'run',
    '--root',
    cwd,
    '--config',
    options.stretch ? STRETCH_CONFIG : GRADING_CONFIG,
    // Bundling the config would write into node_modules/.vite-temp, read-only in the sandbox.
    '--configLoader',
    'runner',
    '--reporter=dot',
    `--reporter=${CHANNEL_REPORTER}`,
    ...(options.bail ? [`--bail=${options.bail}`] : []),
    // An absolute folder: vitest keeps the files under it (a relative filter is a substring).
    ...(options.stretch === 'only' ? [`${join(cwd, 'stretch')}/`] : []),
    ...(options.moduleCache && !options.sandbox
      ? ['--experimental.fsModuleCache', `--experimental.fsModuleCachePath=${MODULE_CACHE_DIR}`]
      : []),
  ];
  const launch = options.sandbox
    ? sandboxCommand({
        workspace: cwd,
        env: { ...options.sandbox.env, ...QUIET_ENV },
        command: options.sandbox.wrap ? options.sandbox.wrap(vitest) : vitest,
        ...(options.sandbox.socketDir ? { socketDir: options.sandbox.socketDir } : {}),
        ...(options.sandbox.extraReadOnly ? { extraReadOnly: options.sandbox.extraReadOnly } : {}),
      })
    : undefined;
  return new Promise((resolve) => {
    const child = launch
      ? spawn(launch.file, launch.args, {
          cwd,
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe', 'pipe', ...launch.fds],
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
          ...(launch.uid !== undefined ? { uid: launch.uid, gid: launch.uid } : {}),
        })
      : spawn(vitest[0] as string, vitest.slice(1), {
          cwd,
          detached: true, // its own process group, so a timeout kills every worker it started
          stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
          env: localEnv(options),
        });
    // The descriptors bwrap binds are open in this process only until the child has them.
    launch?.cleanup();
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let timedOut = false;
    let aborted = false;
    let hung: ProgressTest[] = [];
    let stoppedAt: number | undefined;
    const killGroup = () => {
      stoppedAt ??= performance.now();
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const reader = new ChannelReader({ limit: REPORT_LIMIT });
    // Graded runs never stop early: see RunOptions.stopAfterHungTests.
    const stopAfter = options.manifest ? 0 : (options.stopAfterHungTests ?? 2);
    const channel = child.stdio[REPORT_FD] as NodeJS.ReadableStream | null;
    channel?.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      if (stopAfter > 0 && hung.length === 0 && reader.hungInARow.length >= stopAfter) {
        hung = [...reader.hungInARow];
        killGroup();
      }
    });
    channel?.on('error', () => {});
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    const onAbort = () => {
      aborted = true;
      killGroup();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // Aborted before the listener existed (while the syntax check or the workspace was being
    // prepared): 'abort' has fired already and will not again.
    if (options.signal?.aborted) onAbort();
    child.on('error', (err) => {
      output += `\n${err.message}`;
    });
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const killed = stoppedAt !== undefined;
      // Workers may outlive the main process on some failures: make sure the group is gone.
      killGroup();
      reader.end(killed);
      resolve({
        output,
        timedOut,
        aborted,
        hung,
        stoppedAt: stoppedAt ?? performance.now(),
        exitCode,
        channel: reader,
      });
    });
  });
}

interface ParsedReport {
  tests: TestOutcome[];
  /** Test files that could not load (or whose hooks failed outside a test), in words for people. */
  fileErrors: { file: string; text: string }[];
  /** The reported tests that are tripwires, by the tripwire they are. */
  wires: Map<ChannelTest, Tripwire>;
}

/**
 * A file error as a person reads it: the workspace's paths turned into the learner's; for an
 * error thrown as the code under test was imported, where in that code (the first stack frame
 * in src/, unless the message names it already); for a package or subpath that cannot be
 * found, which of the two it is (learner-paths.ts).
 */
function describeFileError(
  error: ChannelReport['fileErrors'][number],
  paths: PathMap,
  exercise: Exercise,
): { file: string; text: string } {
  const message = cleanMessage(toLearnerPaths(error.message, paths));
  const explained = explainMissingPackage(message, exercise);
  if (explained) return { file: error.file, text: `${error.file}: ${explained}` };
  const source = error.source ? `${toLearnerPaths(join(paths.workspace, error.source.file), paths)}` : undefined;
  if (source && error.source && !message.includes(source)) {
    const [first = '', ...rest] = message.split('\n');
    const where = `${source}:${error.source.line}:${error.source.column}`;
    return {
      file: error.file,
      text: [`${where}: ${first} (thrown as ${error.file} imported it)`, ...rest].join('\n'),
    };
  }
  return { file: error.file, text: `${error.file}: ${message}` };
}

function readReport(report: ChannelReport, tripwires: Tripwire[], paths: PathMap, exercise: Exercise): ParsedReport {
  const tests: TestOutcome[] = [];
  const fileErrors = report.fileErrors.map((error) => describeFileError(error, paths, exercise));
  const wires = new Map<ChannelTest, Tripwire>();
  for (const t of report.tests) {
    const wire = tripwires.find(
      (w) => w.file === t.file && w.line === t.location?.line && w.column === t.location?.column,
    );
    if (wire) {
      wires.set(t, wire);
      continue;
    }
    const status: TestStatus = t.state === 'passed' ? 'pass' : t.state === 'failed' ? 'fail' : 'skip';
    tests.push({
      name: t.path.join(' › '),
      file: t.file,
      status,
      message:
        status === 'fail'
          ? cleanMessage(toLearnerPaths(t.errors.join('\n'), paths)) ||
            'The test failed (its result carried no message).'
          : status === 'skip'
            ? 'The test did not run (skipped): every test of an exercise must run to count.'
            : '',
      durationMs: t.durationMs,
    });
  }
  return { tests, fileErrors, wires };
}

/**
 * A failure message as a person should read it: the assertion's own message (the tests
 * write those in the learner's terms), the expected/received line, no stack trace, no
 * paths into the temporary workspace.
 */
export function cleanMessage(raw: string): string {
  const lines = raw
    .replace(ANSI_COLOUR, '')
    // vitest's advice (raise the timeout) is for the tests' author; a learner's code hangs.
    .replace(
      /^(Test|Hook) timed out in (\d+)ms\.(?:\nIf this is a long-running (?:test|hook)[^\n]*)?/m,
      (_, what: string, ms: string) =>
        `${what === 'Test' ? 'The check' : 'A hook of the tests'} was still waiting after ${Math.round(Number(ms) / 1000)} s, its time limit: something it awaits never comes (a promise that never settles, a callback never called?).`,
    )
    .split('\n')
    .filter((l) => !/^\s+at /.test(l) && !/node_modules|node:internal/.test(l))
    .map((l) =>
      l
        .replace(/^(AssertionError|Error|TypeError): /, '')
        .replace(/\s*\/\/ Object\.is equality$/, '')
        .trimEnd(),
    );
  const text = lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return text.length > 1200 ? `${text.slice(0, 1200)}…` : text;
}

function lastMeaningfulLine(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    // (Not vitest's rules, nor its section titles such as "⎯⎯⎯ Unhandled Error ⎯⎯⎯": the error is the line after.)
    .filter((l) => l && !l.startsWith('at ') && !/^[⎯─-]+$/.test(l) && !/^⎯+ .* ⎯+$/.test(l));
  const error = lines.find((l) => /Error|error:|Can't reach/.test(l));
  return error ?? lines.at(-1) ?? 'vitest exited without a report.';
}
