import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Exercise } from '../repo.ts';
import { REPO_ROOT } from '../repo.ts';
import { listFiles, prepareWorkspace } from './workspace.ts';

/**
 * THE grading mechanism. `verify` (the learner's src/), `check` (starters and solutions)
 * and `grade` (students' submissions) all call `runExercise`; there is no second way of
 * running an exercise's tests.
 *
 * Steps:
 *  1. build a workspace: the pristine exercise with `srcDir` as its src/ (workspace.ts);
 *  2. run vitest there in its own process group, with the workshop's grading config and
 *     the JSON reporter, so that nothing the src/ brings can change what runs;
 *  3. kill the whole group at the timeout (an infinite loop or a hang scores as `timeout`);
 *  4. read the JSON report into one result per test, with the failure message a person
 *     reads (the assertion's own message first, no stack trace).
 */

export type TestStatus = 'pass' | 'fail' | 'error' | 'skip';
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
}

const VITEST_BIN = join(REPO_ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const GRADING_CONFIG = fileURLToPath(new URL('./vitest.grading.config.ts', import.meta.url));
const OUTPUT_LIMIT = 20_000;
/** ANSI colour codes (ESC [ … m), stripped from messages people read. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

export async function runExercise(options: RunOptions): Promise<RunResult> {
  const { exercise } = options;
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? exercise.timeoutSeconds * 1000;
  const base = { exercise, tests: [] as TestOutcome[], passed: 0, failed: 0 };

  if (listFiles(options.srcDir).length === 0) {
    return {
      ...base,
      status: 'error',
      message: `There is no code to test: ${relative(REPO_ROOT, options.srcDir) || options.srcDir} is missing or empty.`,
      durationMs: 0,
      output: '',
    };
  }

  const workspace = prepareWorkspace(exercise, options.srcDir, options.label);
  const reportFile = join(workspace.dir, '.vitest-report.json');
  try {
    const { output, timedOut, aborted, exitCode } = await spawnVitest(workspace.dir, reportFile, timeoutMs, options);
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
    const parsed = readReport(reportFile, workspace.dir);
    if (!parsed) {
      return {
        ...base,
        status: 'error',
        message: `The tests could not run: ${lastMeaningfulLine(output)}`,
        durationMs,
        output,
      };
    }
    const { tests, fileErrors } = parsed;
    const passed = tests.filter((t) => t.status === 'pass').length;
    const failed = tests.filter((t) => t.status === 'fail' || t.status === 'error').length;
    if (tests.length === 0 || (passed === 0 && fileErrors.length > 0 && failed === 0)) {
      return {
        ...base,
        tests,
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
    // Every test passed but vitest failed the run: an error escaped the tests (an unhandled
    // rejection from a background promise, say). That is a bug in the code under test, and
    // the JSON report alone would call it a pass.
    if (exitCode !== 0 && fileErrors.length === 0 && failed === 0) {
      tests.push({
        name: 'no error escapes the tests (unhandled rejections, errors thrown in callbacks)',
        file: '',
        status: 'error',
        message: `${unhandledError(output)}. Catch it where the promise is created (a background refresh, a timer, an event handler).`,
        durationMs: 0,
      });
    }
    const allFailed = tests.filter((t) => t.status === 'fail' || t.status === 'error').length;
    return {
      ...base,
      tests,
      passed,
      failed: allFailed,
      status: allFailed === 0 ? 'pass' : 'fail',
      message:
        allFailed === 0 ? `All ${passed} checks passed.` : `${allFailed} of ${passed + allFailed} checks failed.`,
      durationMs,
      output,
    };
  } finally {
    if (!options.keep) workspace.dispose();
  }
}

function spawnVitest(
  cwd: string,
  reportFile: string,
  timeoutMs: number,
  options: RunOptions,
): Promise<{ output: string; timedOut: boolean; aborted: boolean; exitCode: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        VITEST_BIN,
        'run',
        '--root',
        cwd,
        '--config',
        GRADING_CONFIG,
        '--reporter=json',
        '--reporter=dot',
        `--outputFile.json=${reportFile}`,
      ],
      {
        cwd,
        detached: true, // its own process group, so a timeout kills every worker it started
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', CI: 'true', ...options.env },
      },
    );
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-OUTPUT_LIMIT);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
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
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      // Workers may outlive the main process on some failures: make sure the group is gone.
      killGroup();
      resolve({ output, timedOut, aborted, exitCode });
    });
  });
}

interface VitestJsonReport {
  testResults?: {
    name: string;
    status: string;
    message?: string;
    assertionResults?: {
      ancestorTitles?: string[];
      title: string;
      status: string;
      duration?: number | null;
      failureMessages?: string[];
    }[];
  }[];
}

function readReport(file: string, root: string): { tests: TestOutcome[]; fileErrors: string[] } | undefined {
  if (!existsSync(file)) return undefined;
  let report: VitestJsonReport;
  try {
    report = JSON.parse(readFileSync(file, 'utf8')) as VitestJsonReport;
  } catch {
    return undefined;
  }
  const tests: TestOutcome[] = [];
  const fileErrors: string[] = [];
  for (const fileResult of report.testResults ?? []) {
    const fileName = relative(root, fileResult.name);
    const assertions = fileResult.assertionResults ?? [];
    if (assertions.length === 0 && fileResult.status === 'failed') {
      fileErrors.push(`${fileName}: ${cleanMessage(fileResult.message ?? 'the file failed to load')}`);
      continue;
    }
    for (const a of assertions) {
      const status: TestStatus = a.status === 'passed' ? 'pass' : a.status === 'failed' ? 'fail' : 'skip';
      tests.push({
        name: [...(a.ancestorTitles ?? []), a.title].join(' › '),
        file: fileName,
        status,
        message: status === 'fail' ? cleanMessage((a.failureMessages ?? []).join('\n')) : '',
        durationMs: Math.round(a.duration ?? 0),
      });
    }
  }
  return { tests, fileErrors };
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

/** The first error vitest printed under "Unhandled Rejection" / "Unhandled Error", if any. */
function unhandledError(output: string): string {
  const lines = output.replace(ANSI_COLOUR, '').split('\n');
  const start = lines.findIndex((l) => /Unhandled (Rejection|Error)/.test(l));
  const error = start >= 0 ? lines.slice(start + 1).find((l) => /\w*Error\b.*:/.test(l)) : undefined;
  return error
    ? `An error escaped the tests: ${error.trim()}`
    : 'The test run failed after every test passed (an error escaped the tests)';
}

function lastMeaningfulLine(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('at ') && !/^[⎯─-]+$/.test(l));
  const error = lines.find((l) => /Error|error:|Can't reach/.test(l));
  return error ?? lines.at(-1) ?? 'vitest exited without a report.';
}
