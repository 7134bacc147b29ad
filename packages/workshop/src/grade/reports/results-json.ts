import type { TamperFinding } from '../types.ts';
import type { Cell, Gradebook, Row } from './model.ts';

/**
 * `<id>/results.json`: the shape of Exercism's test-runner interface, version 3
 * (https://exercism.org/docs/building/tooling/test-runners/interface), so that tools
 * which read that format read ours:
 *  - status: pass (every test passed) · fail (some test failed or errored) · error (no test
 *    could run in any exercise: nothing submitted, import errors, timeouts);
 *  - message: why, when status is error; null otherwise;
 *  - tests: every test, in order, as { name, status, message, output, test_code, task_id };
 *    task_id is the exercise's number; an exercise whose tests could not run at all
 *    appears as one test with status error;
 * extended with score, max_score, duration (ms), the per-exercise breakdown and the tamper
 * evidence.
 */
export interface ExercismTest {
  name: string;
  status: 'pass' | 'fail' | 'error';
  message: string | null;
  output: string | null;
  test_code: string;
  task_id: number;
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
  all_or_nothing: boolean;
  exercises: {
    id: string;
    name: string;
    title: string;
    task_id: number;
    status: 'pass' | 'fail' | 'error' | 'timeout' | 'not graded';
    message: string;
    passed: number;
    total: number;
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
  const ran = result.tests.filter((t) => t.status !== 'skip');
  if (ran.length === 0 || result.status === 'timeout') {
    const tail = result.output.trim();
    return [
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
  return ran.map((t) => ({
    name: `${prefix} › ${t.name}`,
    status: t.status === 'pass' ? 'pass' : t.status === 'error' ? 'error' : 'fail',
    message: t.status === 'pass' ? null : t.message || null,
    output: null,
    test_code: `exercises/${exercise.name}/${t.file}`,
    task_id: taskId,
  }));
}

export function resultsJson(book: Gradebook, row: Row): ResultsJson {
  const tests = row.cells.flatMap(testsOf);
  const anyTestRan = row.cells.some((c) => c.result && c.result.total > 0 && c.result.status !== 'timeout');
  const allPass = row.cells.every((c) => c.result?.status === 'pass');
  const status = allPass ? 'pass' : anyTestRan ? 'fail' : 'error';
  return {
    version: 3,
    status,
    message:
      status === 'error'
        ? row.cells
            .map((c) => `${c.exercise.id} ${c.exercise.slug}: ${c.result ? c.result.message : 'not graded.'}`)
            .join('\n')
        : null,
    tests,
    submission: { id: row.id, source: row.source, commit: row.record?.commit ?? null },
    score: row.total,
    max_score: row.max,
    duration: row.durationMs,
    flagged: row.tamper.length > 0,
    tamper: row.tamper.map(tamperJson),
    all_or_nothing: book.manifest.allOrNothing,
    exercises: row.cells.map((c) => ({
      id: c.exercise.id,
      name: c.exercise.name,
      title: c.exercise.title,
      task_id: Number(c.exercise.id),
      status: c.result?.status ?? 'not graded',
      message: c.result?.message ?? 'Not graded yet.',
      passed: c.result?.passed ?? 0,
      total: c.result?.total ?? 0,
      score: c.score,
      max_score: c.exercise.points,
      duration: c.result?.durationMs ?? 0,
      flagged: (c.result?.tamper.length ?? 0) > 0,
    })),
  };
}
