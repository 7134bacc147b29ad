import { integrityReasons, isCleanPass, outcomeOf } from '../score.ts';
import type { TamperFinding } from '../types.ts';
import { type Cell, describeIntegrity, type Gradebook, type Row } from './model.ts';

/**
 * `<id>/results.json`: the shape of Exercism's test-runner interface, version 3
 * (https://exercism.org/docs/building/tooling/test-runners/interface), so that tools
 * which read that format read ours:
 *  - status: pass (every test of every exercise passed, none skipped, no integrity failure)
 *    · fail (some test failed, errored or was skipped, or a run failed an integrity check)
 *    · error (no test could run in any exercise: nothing submitted, import errors, timeouts);
 *  - message: why, when status is error, or the integrity failures; null otherwise;
 *  - tests: every test, in order, as { name, status, message, output, test_code, task_id };
 *    task_id is the exercise's number; an exercise whose tests could not run at all
 *    appears as one test with status error; a skipped test is a fail; a test the starter
 *    already passes has `given: true` (it carries no points); a run that failed an
 *    integrity check starts with a test named "… › integrity" whose message is the reasons;
 * extended with score, max_score, duration (ms), the per-exercise breakdown, the tamper
 * evidence and the integrity failures.
 */
export interface ExercismTest {
  name: string;
  status: 'pass' | 'fail' | 'error';
  message: string | null;
  output: string | null;
  test_code: string;
  task_id: number;
  /** Only on tests the shipped starter already passes: they carry no points. */
  given?: true;
}

export interface ResultsJson {
  version: 3;
  status: 'pass' | 'fail' | 'error';
  message: string | null;
  tests: ExercismTest[];
  submission: { id: string; source: string; commit: string | null };
  score: number;
  max_score: number;
  duration: number;
  flagged: boolean;
  tamper: ReturnType<typeof tamperJson>[];
  /** Exercises whose run failed an integrity check: each scores 0. */
  integrity: { exercise: string; reasons: string[] }[];
  all_or_nothing: boolean;
  exercises: {
    id: string;
    name: string;
    title: string;
    task_id: number;
    /** 'integrity': the run failed an integrity check; a 'pass' with a skipped test is a 'fail'. */
    status: 'pass' | 'fail' | 'error' | 'timeout' | 'integrity' | 'not graded';
    message: string;
    passed: number;
    total: number;
    /** Tests the starter already passes (no points). */
    given: number;
    integrity: string[] | null;
    score: number;
    max_score: number;
    duration: number;
    flagged: boolean;
  }[];
}

/** Exercism caps a test's output at 500 characters. */
const OUTPUT_LIMIT = 500;

function tamperJson(f: TamperFinding) {
  return {
    exercise: f.exercise,
    file: f.file,
    change: f.change,
    pristine_sha256: f.pristineSha256 ?? null,
    submitted_sha256: f.submittedSha256 ?? null,
    diff: f.diff ?? null,
  };
}

function testsOf(cell: Cell): ExercismTest[] {
  const { exercise, result } = cell;
  const taskId = Number(exercise.id);
  const prefix = `${exercise.id} ${exercise.slug}`;
  if (!result) return [];
  const reasons = integrityReasons(result);
  const integrity: ExercismTest[] =
    reasons.length > 0
      ? [
          {
            name: `${prefix} › integrity`,
            status: 'fail',
            message: `This run failed an integrity check and scores 0: ${reasons.join('; ')}`,
            output: null,
            test_code: `exercises/${exercise.name}/test/`,
            task_id: taskId,
          },
        ]
      : [];
  if (result.tests.length === 0 || result.status === 'timeout') {
    const tail = result.output.trim();
    return [
      ...integrity,
      {
        name: prefix,
        status: 'error',
        message: result.message,
        output: tail ? tail.slice(-OUTPUT_LIMIT) : null,
        test_code: `exercises/${exercise.name}/test/`,
        task_id: taskId,
      },
    ];
  }
  return [
    ...integrity,
    ...result.tests.map(
      (t): ExercismTest => ({
        name: `${prefix} › ${t.name}`,
        status: t.status === 'pass' ? 'pass' : t.status === 'error' ? 'error' : 'fail',
        message:
          t.status === 'pass'
            ? null
            : t.status === 'skip'
              ? 'This test was skipped, and a skipped test counts as failed.'
              : t.message || null,
        output: null,
        test_code: `exercises/${exercise.name}/${t.file}`,
        task_id: taskId,
        ...(t.given ? { given: true as const } : {}),
      }),
    ),
  ];
}

export function resultsJson(book: Gradebook, row: Row): ResultsJson {
  const tests = row.cells.flatMap(testsOf);
  const anyTestRan = row.cells.some((c) => c.result && c.result.total > 0 && c.result.status !== 'timeout');
  const allPass = row.cells.every((c) => isCleanPass(c.result));
  const status = allPass ? 'pass' : anyTestRan || row.integrity.length > 0 ? 'fail' : 'error';
  return {
    version: 3,
    status,
    message:
      status === 'error'
        ? row.cells
            .map((c) => `${c.exercise.id} ${c.exercise.slug}: ${c.result ? c.result.message : 'not graded.'}`)
            .join('\n')
        : row.integrity.length > 0
          ? `Failed an integrity check (scored 0): ${describeIntegrity(row.integrity)}`
          : null,
    tests,
    submission: { id: row.id, source: row.source, commit: row.record?.commit ?? null },
    score: row.total,
    max_score: row.max,
    duration: row.durationMs,
    flagged: row.tamper.length > 0 || row.integrity.length > 0,
    tamper: row.tamper.map(tamperJson),
    integrity: row.integrity,
    all_or_nothing: book.manifest.allOrNothing,
    exercises: row.cells.map((c) => ({
      id: c.exercise.id,
      name: c.exercise.name,
      title: c.exercise.title,
      task_id: Number(c.exercise.id),
      status: exerciseStatus(c),
      message: c.result?.message ?? 'Not graded yet.',
      passed: c.result?.passed ?? 0,
      total: c.result?.total ?? 0,
      given: c.result?.tests.filter((t) => t.given).length ?? 0,
      integrity: integrityReasons(c.result).length > 0 ? integrityReasons(c.result) : null,
      score: c.score,
      max_score: c.exercise.points,
      duration: c.result?.durationMs ?? 0,
      flagged: (c.result?.tamper.length ?? 0) > 0 || integrityReasons(c.result).length > 0,
    })),
  };
}

function exerciseStatus(cell: Cell): ResultsJson['exercises'][number]['status'] {
  const outcome = outcomeOf(cell.result);
  return outcome === 'not submitted' ? 'error' : outcome;
}
