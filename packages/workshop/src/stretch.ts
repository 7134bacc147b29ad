import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Exercise } from './repo.ts';
import type { RunResult, TestOutcome } from './runner/run-exercise.ts';
import { listFiles } from './runner/workspace.ts';
import { applySolutionPatch } from './wrong-answers.ts';

/**
 * Stretch goals with tests of their own (issue 17 item 3). An exercise's README ends with a
 * stretch goal, beyond what its tests require; when it can be checked against the real
 * services, its checks live in `exercises/NN-slug/stretch/*.test.ts`, beside test/:
 *  - graded runs never see them: vitest.grading.config.ts includes test/ alone, so they are
 *    never required, never in grade's manifest (grade/pin.ts), never planted with tripwires;
 *  - `cachelab verify NN --stretch` runs test/ and stretch/ in one run
 *    (vitest.stretch.config.ts) and reports them apart (`splitStretch`): "solved" still
 *    means the main tests pass; a stretch pass is recorded beside it in progress;
 *  - `solutions/NN-slug/stretch.patch` is a stretch solution, a patch of the reference solution
 *    opened by `#` lines like a wrong answer (wrong-answers.ts); `cachelab check` proves that
 *    the reference solution FAILS the stretch tests (the stretch is beyond it) and that the
 *    solution with the patch passes them and the main tests.
 * A stretch test imports `../src/…` and may import the main tests' helpers from `../test/…`.
 */

export const STRETCH_DIR = 'stretch';
export const STRETCH_PATCH = 'stretch.patch';

/** The exercise's stretch test files (`stretch/x.test.ts`), sorted; [] when it has none. */
export function stretchTestFiles(exercise: Exercise): string[] {
  return listFiles(join(exercise.dir, STRETCH_DIR))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `${STRETCH_DIR}/${f}`);
}

export function hasStretchTests(exercise: Exercise): boolean {
  return stretchTestFiles(exercise).length > 0;
}

export function stretchPatchFile(exercise: Exercise): string {
  return join(exercise.solutionDir, STRETCH_PATCH);
}

/** An outcome of a stretch test (its file is under stretch/). */
export function isStretchOutcome(test: Pick<TestOutcome, 'file'>): boolean {
  return test.file.startsWith(`${STRETCH_DIR}/`);
}

/** The stretch goal's first sentence from the exercise README ("Stretch goal" heading or bold label), for verify's pointer. */
export function stretchGoalText(exercise: Exercise): string | undefined {
  const readme = join(exercise.dir, 'README.md');
  if (!existsSync(readme)) return undefined;
  const text = readFileSync(readme, 'utf8');
  const m = /(?:(?:^|\n)##[ \t]+Stretch goal\s*\n+|\*\*Stretch goal:?\*\*:?\s*)([\s\S]*?)(?:\n\n|\n#|$)/i.exec(text);
  if (!m?.[1]) return undefined;
  const paragraph = m[1].replace(/\s+/g, ' ').trim();
  const first = /^.*?[.?!](?=\s|$)/.exec(paragraph)?.[0] ?? paragraph;
  return first.length > 200 ? `${first.slice(0, 199)}…` : first;
}

export interface StretchPart {
  tests: TestOutcome[];
  passed: number;
  failed: number;
}

/**
 * One run of test/ and stretch/ (RunOptions.stretch 'also') as two results: `main`, the run as
 * if only test/ had run (its status, counts and message are what verify without --stretch
 * says), and `stretch`, the stretch checks. A run that did not complete (error, timeout) keeps
 * its status and message in `main`: nothing it says about the main tests is a verdict.
 */
export function splitStretch(result: RunResult): { main: RunResult; stretch: StretchPart } {
  const stretchTests = result.tests.filter(isStretchOutcome);
  const mainTests = result.tests.filter((t) => !isStretchOutcome(t));
  const stretch = {
    tests: stretchTests,
    passed: stretchTests.filter((t) => t.status === 'pass').length,
    failed: stretchTests.filter((t) => t.status !== 'pass').length,
  };
  if (result.status === 'error' || result.status === 'timeout') {
    const passed = mainTests.filter((t) => t.status === 'pass').length;
    return {
      main: { ...result, tests: mainTests, passed, failed: Math.max(0, result.failed - stretch.failed) },
      stretch,
    };
  }
  const passed = mainTests.filter((t) => t.status === 'pass').length;
  const mainFailed = mainTests.filter((t) => t.status !== 'pass').length;
  const { integrity } = result;
  const main: RunResult = {
    ...result,
    tests: mainTests,
    passed,
    failed: mainFailed,
    status: mainFailed === 0 && integrity.length === 0 && mainTests.length > 0 ? 'pass' : 'fail',
    message:
      integrity.length > 0
        ? result.message
        : mainFailed === 0
          ? `All ${passed} checks passed.`
          : `${mainFailed} of ${passed + mainFailed} checks failed.`,
  };
  return { main, stretch };
}

/** A copy of the reference solution's src/ with stretch.patch applied (check's stretch run). */
export function applyStretchPatch(exercise: Exercise): { srcDir: string; dispose(): void } {
  return applySolutionPatch(exercise, stretchPatchFile(exercise), STRETCH_PATCH, `stretch-${exercise.id}`);
}

/**
 * The structure of an exercise's stretch goal (check's lint): stretch tests come with a stretch
 * solution (`solutions/NN-slug/stretch.patch`, opened by a `# …` line saying what it does), a
 * stretch solution with stretch tests, and the exercise's tsconfig type-checks stretch/.
 */
export function lintStretch(exercise: Exercise): string[] {
  const problems: string[] = [];
  const tests = stretchTestFiles(exercise);
  const patch = stretchPatchFile(exercise);
  const solution = `solutions/${exercise.name}/${STRETCH_PATCH}`;
  if (tests.length > 0 && !existsSync(patch))
    problems.push(
      `${solution}: missing. exercises/${exercise.name}/${STRETCH_DIR}/ has tests, so a stretch solution (a patch of the solution that passes them) must prove they can pass.`,
    );
  if (tests.length === 0 && existsSync(patch))
    problems.push(
      `${solution}: there are no stretch tests (exercises/${exercise.name}/${STRETCH_DIR}/*.test.ts) for it to pass. Add them, or remove the patch.`,
    );
  // A stretch goal without tests says why, in words `verify NN --stretch` can point to.
  const readme = join(exercise.dir, 'README.md');
  if (
    tests.length === 0 &&
    stretchGoalText(exercise) !== undefined &&
    !/no tests check/i.test(readFileSync(readme, 'utf8'))
  )
    problems.push(
      `exercises/${exercise.name}/README.md: its stretch goal has no tests (exercises/${exercise.name}/${STRETCH_DIR}/*.test.ts) and does not say why: add tests, or a sentence "No tests check this one (\`verify ${exercise.id} --stretch\` says so): …" giving the reason.`,
    );
  if (existsSync(patch) && !readFileSync(patch, 'utf8').startsWith('#'))
    problems.push(`${solution}: starts without a "# …" line saying what the stretch solution does.`);
  const tsconfig = join(exercise.dir, 'tsconfig.json');
  if (tests.length > 0 && existsSync(tsconfig)) {
    const include = (JSON.parse(readFileSync(tsconfig, 'utf8')) as { include?: string[] }).include ?? [];
    if (!include.includes(STRETCH_DIR))
      problems.push(
        `exercises/${exercise.name}/tsconfig.json: its "include" lacks "${STRETCH_DIR}", so the stretch tests are never type-checked.`,
      );
  }
  return problems;
}

const seconds = (run: RunResult | Error) => (run instanceof Error ? '-' : `${(run.durationMs / 1000).toFixed(1)} s`);

/**
 * Check's verdict on a stretch goal: the reference solution must FAIL its stretch tests by an
 * assertion (`failRun`: stretch tests only, stopped at the first failure), or the stretch asks
 * nothing beyond the exercise; the solution with stretch.patch must pass them and still pass
 * every main test (`passRun`: test/ and stretch/ together). `text` says so in one line.
 */
export function judgeStretch(
  exercise: Exercise,
  failRun: RunResult | Error,
  passRun: RunResult | Error,
): { ok: boolean; text: string; problems: string[] } {
  const problems: string[] = [];
  const total = stretchTestFiles(exercise).length;
  let caught = '';
  if (failRun instanceof Error) problems.push(`stretch: ${failRun.message}`);
  else if (failRun.status === 'pass')
    problems.push(
      `stretch: the reference solution PASSES its ${failRun.passed} stretch tests: they ask nothing beyond the exercise (a stretch test must fail on solutions/${exercise.name}/src).`,
    );
  else if (failRun.status === 'error')
    problems.push(
      `stretch: the stretch tests do not run on the reference solution (${failRun.message}): they must load and fail by assertion.`,
    );
  else {
    const catcher = failRun.tests.find((t) => isStretchOutcome(t) && (t.status === 'fail' || t.status === 'error'));
    caught = failRun.status === 'timeout' ? 'the timeout' : `"${catcher?.name ?? failRun.message}"`;
  }
  let passed = '';
  if (passRun instanceof Error) problems.push(`stretch: ${passRun.message}`);
  else {
    const { main, stretch } = splitStretch(passRun);
    const files = new Set(stretch.tests.map((t) => t.file));
    if (passRun.status !== 'pass' || stretch.passed === 0 || files.size < total) {
      const failing = passRun.tests.filter((t) => t.status !== 'pass');
      problems.push(
        `stretch: the solution with ${STRETCH_PATCH} does not pass (${passRun.status}): ${passRun.message}` +
          (files.size < total ? ` (${files.size} of ${total} stretch test files ran)` : '') +
          (failing.length > 0
            ? `\n${failing.map((t) => `  ✗ ${t.file} › ${t.name}: ${t.message.split('\n')[0]}`).join('\n')}`
            : ''),
      );
    } else passed = `passes its ${stretch.passed} and the ${main.passed} main tests`;
  }
  return {
    ok: problems.length === 0,
    text:
      problems.length === 0
        ? `stretch: the solution fails it (caught by ${caught}), with ${STRETCH_PATCH} it ${passed} (runs of ${seconds(failRun)} and ${seconds(passRun)})`
        : '',
    problems,
  };
}
