import type { RunStatus, TestOutcome } from '../runner/run-exercise.ts';

/**
 * What the grader keeps on disk, in `--out` (default `grades/`):
 *
 *   grade.json                 the manifest: exercises, submissions, settings, shard
 *   <id>/submission.json       where a submission came from, and its tamper findings
 *   <id>/<exercise>.json       one graded run, written atomically as soon as it is done
 *   <id>/results.json          the student's report (Exercism test-runner interface v3)
 *   gradebook.csv, junit.xml, index.html
 *
 * Every report is built from the stored files alone, so a resumed run, a shard and a merge
 * of shards all produce the same gradebook as one uninterrupted run.
 */

/** The metadata of an exercise as the reports need it (from its package.json). */
export interface ExerciseInfo {
  id: string;
  name: string;
  slug: string;
  title: string;
  points: number;
}

/**
 * The tests an exercise is graded on, as pinned when the batch starts (filled by the
 * sandbox's manifest step). `given` lists the tests the shipped STARTER already passes,
 * as `${file}::${name}` (see testKey in score.ts): they carry no points.
 */
export interface PinnedTests {
  tests: { file: string; name: string }[];
  given: string[];
}

/**
 * A test outcome as stored. `given`: the starter already passes this test, so it carries no
 * points (it is still run and shown, tagged "given").
 */
export type StoredTest = TestOutcome & { given?: boolean };

/** Why a run cannot be trusted (filled by the sandbox's integrity checks). */
export interface IntegrityFailure {
  ok: false;
  /** Each a sentence: "test/app.test.ts › caches misses was skipped", "the report was not written by the runner". */
  reasons: string[];
}

/** A file of a submission that is not the instructor's copy (the run used the pristine one anyway). */
export interface TamperFinding {
  /** Exercise folder name: `03-redis-cache-aside`. */
  exercise: string;
  /** Relative to the exercise: `test/app.test.ts`, `package.json`. */
  file: string;
  /** modified: content differs · added: not in the pristine copy · removed: a test file the submission deleted. */
  change: 'modified' | 'added' | 'removed';
  pristineSha256?: string;
  submittedSha256?: string;
  /** What changed, as a unified diff (pristine → submitted), cut at a few KB. */
  diff?: string;
}

/** One submission × exercise, as graded. Scores are computed from it when reports are written. */
export interface StoredResult {
  version: 1;
  submission: string;
  exercise: ExerciseInfo;
  status: RunStatus;
  /** One line for people. */
  message: string;
  passed: number;
  /** Tests that count: passed + failed (skipped tests do not). */
  total: number;
  tests: StoredTest[];
  durationMs: number;
  /** The tail of the test runner's output, for diagnosing errors and timeouts. */
  output: string;
  tamper: TamperFinding[];
  /** What was graded: a resumed run skips the result only when both still match. */
  fingerprint: { pristine: string; submission: string };
  gradedAt: string;
  /** A failure of the grader, not of the submission (a clone that failed): graded again on --resume. */
  retry?: boolean;
  /**
   * Nothing was submitted for this exercise (no src/, or an empty one). It scores 0 like an
   * error, but reports call it "not submitted", apart from the runs that broke.
   */
  notSubmitted?: boolean;
  /**
   * The run's results cannot be trusted (skipped tests, tests missing or added against the
   * manifest, a tripwire, a patched framework, a forged report). The exercise then scores
   * exactly 0 whatever its status, and every report flags it with the reasons.
   */
  integrity?: IntegrityFailure;
  /** The run happened inside the sandbox (false: as the grader's user, see the manifest's `sandbox`). */
  sandboxed?: boolean;
  /** The timeout the run had, in ms (absent for results that did not run). */
  timeoutMs?: number;
}

export interface SubmissionRecord {
  id: string;
  /** What the instructor passed: a folder path, a zip file or a git URL. */
  source: string;
  kind: 'folder' | 'git' | 'zip';
  /** For git sources: the commit that was graded. */
  commit?: string;
  /** Why the submission could not be fetched (every exercise then scores 0). */
  error?: string;
}

export interface Manifest {
  version: 1;
  /** The pristine workshop the tests came from. */
  root: string;
  exercises: ExerciseInfo[];
  /** Every submission of the batch, sorted by id (all shards share this list). */
  all: { id: string; source: string }[];
  /** The ids this output grades: all of them, or a shard's slice. */
  graded: string[];
  allOrNothing: boolean;
  shard: { index: number; count: number } | null;
  /**
   * Per exercise name, the fingerprint of its pinned tests and configuration (tamper.ts
   * pristineFingerprint). `merge` refuses outputs whose fingerprints differ: they were graded
   * on different tests. Absent in outputs of older graders.
   */
  pinned?: Record<string, string>;
  /** Whether runs were sandboxed, and if not why (every report says so). */
  sandbox?: { sandboxed: boolean; reason?: string };
  /** For a merged output: the folders it was merged from. */
  mergedFrom?: string[];
  startedAt: string;
  finishedAt?: string;
}
