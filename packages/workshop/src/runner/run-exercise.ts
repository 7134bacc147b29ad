import { spawn } from 'node:child_process';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Exercise } from '../repo.ts';
import { REPO_ROOT } from '../repo.ts';
import type { ChannelReport, ChannelTest } from './channel-reporter.ts';
import { checkIntegrity, type TestManifest } from './integrity.ts';
import { sandboxCommand } from './sandbox.ts';
import type { Tripwire } from './tripwires.ts';
import { listFiles, MODULE_CACHE_DIR, prepareWorkspace } from './workspace.ts';

/**
 * THE grading mechanism. `verify` (the learner's src/), `check` (starters and solutions)
 * and `grade` (students' submissions) all call `runExercise`; there is no second way of
 * running an exercise's tests.
 *
 * Steps:
 *  1. build a workspace: the pristine exercise with `srcDir` as its src/ (workspace.ts);
 *     (grade: plant tripwires in the workspace's copy of the tests, tripwires.ts);
 *  2. run vitest there in its own process group, with the workshop's grading config (its
 *     setup file freezes the assertion machinery before the src/ loads), so that nothing
 *     the src/ brings can change what runs; for grade, inside the sandbox (sandbox.ts);
 *  3. kill the whole group at the timeout (an infinite loop or a hang scores as `timeout`);
 *  4. take the report from the channel (a socket the tests' workers cannot reach, see
 *     channel-reporter.ts) into one result per test, with the failure message a person
 *     reads (the assertion's own message first, no stack trace);
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
}

const VITEST_BIN = join(REPO_ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const GRADING_CONFIG = fileURLToPath(new URL('./vitest.grading.config.ts', import.meta.url));
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

  const moduleCache = options.moduleCache === true && options.sandbox === undefined;
  const workspace = prepareWorkspace(exercise, options.srcDir, options.label, { stable: moduleCache });
  try {
    const testFiles = listFiles(join(workspace.dir, 'test'))
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => `test/${f}`);
    // Loaded only when planting: it needs the TypeScript compiler, a second of start-up that
    // verify and check never use.
    const tripwires: Tripwire[] = options.tripwires
      ? (await import('./tripwires.ts')).plantTripwires(workspace.dir, testFiles, options.tripwires)
      : [];
    const { output, timedOut, aborted, exitCode, report } = await spawnVitest(workspace.dir, timeoutMs, options);
    const durationMs = Math.round(performance.now() - started);
    if (timedOut || aborted) {
      return {
        ...base,
        status: 'timeout',
        message: aborted
          ? 'The run was stopped before it finished.'
          : `The tests did not finish within ${Math.round(timeoutMs / 1000)} s and were stopped: look for an endless loop, a promise that never settles, or a connection that is never closed.`,
        durationMs,
        output,
      };
    }
    const parsed = report ? readReport(report, tripwires) : undefined;
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
            ? `vitest ended (exit code ${exitCode}) without sending its report: its main process was stopped or disrupted`
            : lastMeaningfulLine(output)
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
      fileErrors,
      ...(options.manifest ? { manifest: options.manifest } : {}),
    });
    const passed = tests.filter((t) => t.status === 'pass').length;
    const failed = tests.filter((t) => t.status === 'fail' || t.status === 'error').length;
    if (tests.length === 0 || (passed === 0 && fileErrors.length > 0 && failed === 0)) {
      return {
        ...base,
        tests,
        integrity,
        status: 'error',
        message: `No test could run: ${fileErrors[0] ?? lastMeaningfulLine(output)}`,
        durationMs,
        output,
      };
    }
    // A test file that failed to load while others ran: its tests count as failed.
    for (const error of fileErrors) {
      tests.push({
        name: 'the test file loads',
        file: error.split(':')[0] ?? '',
        status: 'error',
        message: error,
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
        message: `An error escaped the tests: ${cleanMessage(report.unhandled[0] ?? '').split('\n')[0]}. Catch it where the promise is created (a background refresh, a timer, an event handler).`,
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

interface VitestRun {
  output: string;
  timedOut: boolean;
  aborted: boolean;
  exitCode: number | null;
  /** What the channel reporter sent; undefined when nothing (or nonsense) arrived. */
  report: ChannelReport | undefined;
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
    GRADING_CONFIG,
    // Bundling the config would write into node_modules/.vite-temp, read-only in the sandbox.
    '--configLoader',
    'runner',
    '--reporter=dot',
    `--reporter=${CHANNEL_REPORTER}`,
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
    const chunks: Buffer[] = [];
    let received = 0;
    const channel = child.stdio[REPORT_FD] as NodeJS.ReadableStream | null;
    channel?.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received <= REPORT_LIMIT) chunks.push(chunk);
    });
    channel?.on('error', () => {});
    let timedOut = false;
    let aborted = false;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    const onAbort = () => {
      aborted = true;
      killGroup();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      output += `\n${err.message}`;
    });
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      // Workers may outlive the main process on some failures: make sure the group is gone.
      killGroup();
      resolve({ output, timedOut, aborted, exitCode, report: parseChannel(Buffer.concat(chunks), received) });
    });
  });
}

function parseChannel(bytes: Buffer, received: number): ChannelReport | undefined {
  if (received === 0 || received > REPORT_LIMIT) return undefined;
  const lines = bytes.toString('utf8').split('\n').filter(Boolean);
  // Exactly one report, from the one process holding the descriptor.
  if (lines.length !== 1) return undefined;
  try {
    const report = JSON.parse(lines[0] as string) as ChannelReport;
    return report?.type === 'report' && Array.isArray(report.tests) ? report : undefined;
  } catch {
    return undefined;
  }
}

interface ParsedReport {
  tests: TestOutcome[];
  fileErrors: string[];
  /** The reported tests that are tripwires, by the tripwire they are. */
  wires: Map<ChannelTest, Tripwire>;
}

function readReport(report: ChannelReport, tripwires: Tripwire[]): ParsedReport {
  const tests: TestOutcome[] = [];
  const fileErrors: string[] = [];
  const wires = new Map<ChannelTest, Tripwire>();
  for (const error of report.fileErrors) fileErrors.push(`${error.file}: ${cleanMessage(error.message)}`);
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
          ? cleanMessage(t.errors.join('\n')) || 'The test failed (its result carried no message).'
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
    .filter((l) => l && !l.startsWith('at ') && !/^[⎯─-]+$/.test(l));
  const error = lines.find((l) => /Error|error:|Can't reach/.test(l));
  return error ?? lines.at(-1) ?? 'vitest exited without a report.';
}
