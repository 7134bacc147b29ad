import { UserError } from '../../output.ts';
import { integrityReasons, round2, scoreOf } from '../score.ts';
import { readManifest, readResult, readSubmission } from '../store.ts';
import { compareIds } from '../submissions.ts';
import type { ExerciseInfo, Manifest, StoredResult, SubmissionRecord, TamperFinding } from '../types.ts';

/** One cell of the gradebook: an exercise of a submission. `result` is undefined when not graded (yet). */
export interface Cell {
  exercise: ExerciseInfo;
  result: StoredResult | undefined;
  score: number;
}

export interface Row {
  id: string;
  source: string;
  record: SubmissionRecord | undefined;
  cells: Cell[];
  total: number;
  max: number;
  tamper: TamperFinding[];
  /** The exercises whose run failed an integrity check (each scores 0), with the reasons. */
  integrity: IntegrityFlag[];
  /** Runs that errored or timed out (exercises not submitted are counted apart). */
  errors: number;
  /** Exercises with nothing submitted. */
  notSubmitted: number;
  /** Every exercise graded. */
  complete: boolean;
  durationMs: number;
}

export interface IntegrityFlag {
  exercise: string;
  reasons: string[];
}

/** "01-fixture: a test was skipped; the report was forged | 02-words: …" */
export function describeIntegrity(flags: IntegrityFlag[]): string {
  return flags.map((f) => `${f.exercise}: ${f.reasons.join('; ')}`).join(' | ');
}

export interface Gradebook {
  manifest: Manifest;
  exercises: ExerciseInfo[];
  rows: Row[];
  max: number;
}

/** Everything the reports show, read back from the output folder (never from memory). */
export function loadGradebook(out: string): Gradebook {
  const manifest = readManifest(out);
  if (!manifest)
    throw new UserError(`${out} holds no grading results (no grade.json). Run \`cachelab grade\` first.`, 2);
  const exercises = manifest.exercises;
  const max = round2(exercises.reduce((sum, e) => sum + e.points, 0));
  const sources = new Map(manifest.all.map((s) => [s.id, s.source]));
  const rows = [...manifest.graded].sort(compareIds).map((id): Row => {
    const cells = exercises.map((exercise): Cell => {
      const result = readResult(out, id, exercise.name);
      return { exercise, result, score: scoreOf(result, exercise.points, manifest.allOrNothing) };
    });
    return {
      id,
      source: sources.get(id) ?? '',
      record: readSubmission(out, id),
      cells,
      total: round2(cells.reduce((sum, c) => sum + c.score, 0)),
      max,
      tamper: cells.flatMap((c) => c.result?.tamper ?? []),
      integrity: cells.flatMap((c) => {
        const reasons = integrityReasons(c.result);
        return reasons.length > 0 ? [{ exercise: c.exercise.name, reasons }] : [];
      }),
      errors: cells.filter(
        (c) => (c.result?.status === 'error' && !c.result.notSubmitted) || c.result?.status === 'timeout',
      ).length,
      notSubmitted: cells.filter((c) => c.result?.notSubmitted).length,
      complete: cells.every((c) => c.result),
      durationMs: cells.reduce((sum, c) => sum + (c.result?.durationMs ?? 0), 0),
    };
  });
  return { manifest, exercises, rows, max };
}

export interface Stats {
  submissions: number;
  mean: number;
  median: number;
  fullMarks: number;
  flagged: string[];
  /** Submissions with a run that failed an integrity check. */
  integrity: string[];
  /** Runs that ended in an error, not counting the exercises nothing was submitted for. */
  errors: number;
  timeouts: number;
  /** Exercises with no src/ (or an empty one) in the submission: each scores 0. */
  notSubmitted: number;
  missing: number;
}

export function statistics(book: Gradebook): Stats {
  const totals = book.rows.map((r) => r.total).sort((a, b) => a - b);
  const mid = Math.floor(totals.length / 2);
  const median =
    totals.length === 0
      ? 0
      : totals.length % 2
        ? (totals[mid] as number)
        : ((totals[mid - 1] as number) + (totals[mid] as number)) / 2;
  const cells = book.rows.flatMap((r) => r.cells);
  return {
    submissions: book.rows.length,
    mean: totals.length ? round2(totals.reduce((a, b) => a + b, 0) / totals.length) : 0,
    median: round2(median),
    fullMarks: book.rows.filter((r) => r.total === r.max && r.max > 0).length,
    flagged: book.rows.filter((r) => r.tamper.length > 0).map((r) => r.id),
    integrity: book.rows.filter((r) => r.integrity.length > 0).map((r) => r.id),
    errors: cells.filter((c) => c.result?.status === 'error' && !c.result.notSubmitted).length,
    notSubmitted: cells.filter((c) => c.result?.notSubmitted).length,
    timeouts: cells.filter((c) => c.result?.status === 'timeout').length,
    missing: cells.filter((c) => !c.result).length,
  };
}
