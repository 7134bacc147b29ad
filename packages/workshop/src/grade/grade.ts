import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { type AdaptiveOptions, mapAdaptive, mapLimit, type PoolReport } from '../concurrency.ts';
import { UserError } from '../output.ts';
import { type Exercise, findExercise, listExercises, REPO_ROOT } from '../repo.ts';
import { probeSandbox } from '../runner/sandbox.ts';
import { pinTests } from './pin.ts';
import { writeReports } from './reports/write.ts';
import { checkExerciseFolder, existsNoFollow } from './safe-files.ts';
import { runGraded, sweepDeadRuns } from './sandboxed-run.ts';
import { integrityReasons } from './score.ts';
import { PRISTINE_DIR, readManifest, readResult, writeManifest, writeResult, writeSubmission } from './store.ts';
import {
  type FetchedSubmission,
  fetchSubmission,
  resolveSubmissions,
  type Submission,
  shardSlice,
} from './submissions.ts';
import { findTampering, pristineFingerprint, sha256, submissionFingerprint } from './tamper.ts';
import type { ExerciseInfo, Manifest, PinnedTests, StoredResult, SubmissionRecord } from './types.ts';

export interface GradeOptions {
  /** Folders, .zip files or git URLs, as the instructor typed them. */
  sources: string[];
  /** Relative sources are resolved from here. Default: process.cwd(). */
  cwd?: string;
  /** The pristine workshop whose exercises/ holds the tests. Default: this repository. */
  root?: string;
  /** Only these exercises ('03', '05', or names). Default: all. */
  exercises?: string[];
  /** The output folder. Default: `<root>/grades` (git-ignored). */
  out?: string;
  /**
   * Runs at once, exactly. Default: as many as cores to begin with, more (up to twice the
   * cores, at most 8) while the CPU sits idle and memory is free (concurrency.ts). Each run is
   * a vitest process with one worker.
   */
  concurrency?: number;
  /** Overrides every exercise's own timeoutSeconds. A run that exceeds it scores 0 (timeout). */
  timeoutSeconds?: number;
  /** Full points only when every test of an exercise passes (default: partial credit). */
  allOrNothing?: boolean;
  /**
   * Keep the results already in `out` when they graded the same code against the same tests.
   * Results that ended in a timeout or an error (a crash, an import error, Redis down) are
   * always graded again; exercises not submitted and integrity failures of unchanged code are kept.
   */
  resume?: boolean;
  /** Grade every `count`-th submission by sorted id, starting at the `index`-th (1-based). */
  shard?: { index: number; count: number } | null;
  /** Stops the batch: runs under way are killed and NOT stored, so --resume redoes them. */
  signal?: AbortSignal;
  /** Refuse to grade when no sandbox can be had (instead of grading unsandboxed, with a warning). */
  requireSandbox?: boolean;
  onEvent?: (event: GradeEvent) => void;
}

export type GradeEvent =
  | {
      type: 'start';
      submissions: Submission[];
      exercises: Exercise[];
      total: number;
      /** Runs in flight to begin with. */
      concurrency: number;
      /** With no --concurrency: the most runs in flight allowed while the CPU sits idle. */
      adaptiveMax?: number;
      sandbox: { sandboxed: boolean; reason?: string };
    }
  | { type: 'run-start'; submission: string; exercise: string }
  | { type: 'run'; result: StoredResult; resumed: boolean; ran: boolean }
  | { type: 'submission'; record: SubmissionRecord; results: StoredResult[] };

export interface GradeOutcome {
  out: string;
  manifest: Manifest;
  /** Runs done in this call, and runs kept from an earlier one (--resume). */
  graded: number;
  resumed: number;
  interrupted: boolean;
  wallMs: number;
  /** How the runs used the machine: runs/s, CPU busy, runs in flight. */
  pool: PoolReport;
}

export function exerciseInfo(e: Exercise): ExerciseInfo {
  return { id: e.id, name: e.name, slug: e.slug, title: e.title, points: e.points };
}

/** The exercises to grade, from `--exercises 03,05`; a name that matches none is an error. */
export function selectExercises(root: string, only: string[] | undefined): Exercise[] {
  const all = listExercises(root);
  if (all.length === 0)
    throw new UserError(`There are no exercises in ${join(root, 'exercises')}: nothing to grade against.`, 2);
  if (!only || only.length === 0) return all;
  const picked = new Map<string, Exercise>();
  for (const query of only) {
    const exercise = findExercise(query, root);
    if (!exercise)
      throw new UserError(
        `There is no exercise "${query}". Exercises: ${all.map((e) => e.id).join(', ')} (--exercises 01,03).`,
        2,
      );
    picked.set(exercise.name, exercise);
  }
  return all.filter((e) => picked.has(e.name));
}

/**
 * Environment variables a student's code may see. Everything else the instructor's shell
 * holds (tokens, cloud credentials) is removed from the test process: the code under test
 * is someone else's. Not a sandbox: the code still runs as the instructor's user.
 */
const ALLOWED_ENV =
  /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|LC_\w+|TZ|TMPDIR|TEMP|TMP|TERM|DATABASE_URL|REDIS_URL|PG\w+|CACHELAB_\w+|NODE_OPTIONS|NODE_PATH|CI|NO_COLOR|FORCE_COLOR)$/;

export function scrubbedEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const scrubbed: NodeJS.ProcessEnv = {};
  for (const key of Object.keys(env)) if (!ALLOWED_ENV.test(key)) scrubbed[key] = undefined;
  return scrubbed;
}

/**
 * Grade a batch. Steps:
 *  1. resolve the sources into submissions with stable ids; keep the shard's slice;
 *  2. write the manifest, so that a partial output can already be reported and merged;
 *  3. for each submission × exercise, at most `concurrency` at once:
 *     fetch the submission once (clone / unzip), compare its tests and configuration with
 *     the pristine copies (tamper evidence), skip the run when --resume finds the same
 *     result stored, otherwise run it through runExercise and store it at once;
 *  4. when a submission's last run is stored, write its results.json;
 *  5. write the gradebook, JUnit XML and HTML report from what is stored.
 * A crash, an import error or a timeout scores 0 for that exercise and never stops the batch.
 */
export async function gradeSubmissions(options: GradeOptions): Promise<GradeOutcome> {
  const started = performance.now();
  const root = resolve(options.root ?? REPO_ROOT);
  const out = resolve(options.out ?? join(root, 'grades'));
  const exercises = selectExercises(root, options.exercises);
  const all = resolveSubmissions(options.sources, options.cwd);
  if (all.length === 0) throw new UserError('No submissions given: pass folders, .zip files or git URLs.', 2);
  const shard = options.shard ?? null;
  const slice = shardSlice(all, shard);
  const allOrNothing = options.allOrNothing ?? false;
  const pool: AdaptiveOptions = options.concurrency
    ? { min: Math.max(1, options.concurrency), max: Math.max(1, options.concurrency) }
    : { min: availableParallelism(), max: Math.min(8, availableParallelism() * 2) };
  const concurrency = pool.min as number;

  const support = probeSandbox();
  if (!support.available && options.requireSandbox)
    throw new UserError(
      `No sandbox can be had here: ${support.reason}. Without --require-sandbox the class is graded unsandboxed (the reports say so); for an untrusted class, fix that first.`,
      2,
    );
  const sandbox = support.available
    ? { sandboxed: true }
    : { sandboxed: false, reason: support.reason ?? 'no sandbox on this machine' };

  const previous = readManifest(out);
  const manifest: Manifest = {
    version: 1,
    root,
    exercises: exercises.map(exerciseInfo),
    all: all.map((s) => ({ id: s.id, source: s.source })),
    graded: slice.map((s) => s.id),
    allOrNothing,
    shard,
    sandbox,
    startedAt: options.resume && previous ? previous.startedAt : new Date().toISOString(),
  };
  writeManifest(out, manifest);

  // Every run of the batch uses the tests as they were when it started, even if someone edits
  // the workshop meanwhile; the copy stays in the output as a record of what was graded.
  const pinned = snapshotExercises(exercises, out);
  const jobs = slice.flatMap((submission) => pinned.map((exercise) => ({ submission, exercise })));
  const pristine = new Map(pinned.map((e) => [e.name, pristineFingerprint(e)]));
  // What a grader killed mid-run on this machine left in the services (roles, ACL users, keys).
  if (sandbox.sandboxed) await sweepDeadRuns().catch(() => []);
  // The manifest of each exercise's tests and the tests its starter passes (pin.ts): one run
  // of each starter, before any submission; kept for --resume.
  const pinnedTests = new Map<string, PinnedTests>();
  await mapLimit(pinned, concurrency, async (exercise) => {
    const original = exercises.find((e) => e.name === exercise.name) as Exercise;
    try {
      pinnedTests.set(
        exercise.name,
        await pinTests(exercise, original, pristine.get(exercise.name) as string, out, options.signal),
      );
    } catch (err) {
      throw new UserError(
        `Could not pin the tests of ${exercise.name}: ${err instanceof Error ? err.message : err}. Check the workshop with \`npx cachelab check ${exercise.id}\`.`,
        1,
      );
    }
  });
  options.onEvent?.({
    type: 'start',
    submissions: slice,
    exercises,
    total: jobs.length,
    concurrency,
    ...(options.concurrency ? {} : { adaptiveMax: pool.max as number }),
    sandbox,
  });

  // What was graded against, so that `merge` can refuse shards graded on different tests.
  manifest.pinned = Object.fromEntries(pristine);
  writeManifest(out, manifest);
  const names = exercises.map((e) => e.name);
  const fetched = new Map<string, Promise<FetchedSubmission>>();
  const remaining = new Map(slice.map((s) => [s.id, exercises.length]));
  const done = new Map<string, StoredResult[]>();
  let graded = 0;
  let resumed = 0;

  const fetchOnce = (submission: Submission) => {
    let promise = fetched.get(submission.id);
    if (!promise) {
      promise = fetchSubmission(submission, out, names).then((f) => {
        writeSubmission(out, f.record);
        return f;
      });
      fetched.set(submission.id, promise);
    }
    return promise;
  };

  // Nothing a job meets may stop the batch: whatever one submission throws (a file where a
  // folder should be, a disk error, a bug of ours) becomes that run's error, scored 0, and the
  // other runs go on. Without this, one throw ends mapLimit's Promise.all and no report is written.
  const { report } = await mapAdaptive(jobs, pool, async ({ submission, exercise }) => {
    if (options.signal?.aborted) return;
    let f: FetchedSubmission | undefined;
    let result: StoredResult | undefined;
    try {
      f = await fetchOnce(submission);
      result = await gradeOne(submission, exercise, f);
    } catch (err) {
      result = graderFailure(submission, exercise, err);
    }
    if (!result) return; // interrupted: nothing stored
    const list = done.get(submission.id) ?? [];
    list.push(result);
    done.set(submission.id, list);
    const left = (remaining.get(submission.id) ?? 1) - 1;
    remaining.set(submission.id, left);
    if (left === 0) {
      safeCleanup(f);
      const ordered = names.flatMap((n) => list.filter((r) => r.exercise.name === n));
      const record = f?.record ?? { id: submission.id, source: submission.source, kind: submission.kind };
      options.onEvent?.({ type: 'submission', record, results: ordered });
    }
  });

  /** A run the grader itself could not carry out: stored (when it can be) as an error to retry on --resume. */
  function graderFailure(submission: Submission, exercise: Exercise, err: unknown): StoredResult {
    const result: StoredResult = {
      version: 1,
      submission: submission.id,
      exercise: exerciseInfo(exercise),
      tamper: [],
      fingerprint: { pristine: pristine.get(exercise.name) as string, submission: 'none' },
      gradedAt: new Date().toISOString(),
      ...noRun('error', `The grader could not grade this exercise: ${err instanceof Error ? err.message : err}`),
      retry: true,
    };
    try {
      writeResult(out, result);
    } catch {
      // The output folder itself fails: the reports will say "not graded" for this run.
    }
    graded++;
    options.onEvent?.({ type: 'run', result, resumed: false, ran: false });
    return result;
  }

  async function gradeOne(
    submission: Submission,
    exercise: Exercise,
    f: FetchedSubmission,
  ): Promise<StoredResult | undefined> {
    const submittedDir = f.exercisesDir ? join(f.exercisesDir, exercise.name) : undefined;
    const srcDir = submittedDir ? join(submittedDir, 'src') : undefined;
    // Before anything of the submission is read: only regular files and folders, within the
    // size limits (safe-files.ts). A refused exercise scores 0 with the reason; it is not retried.
    const check = f.refused
      ? { ok: false as const, reason: f.refused }
      : submittedDir
        ? checkExerciseFolder(submittedDir, exercise.name)
        : { ok: true as const, srcFiles: [] };
    const tamper = check.ok && submittedDir ? findTampering(exercise, submittedDir) : [];
    const fingerprint = {
      pristine: pristine.get(exercise.name) as string,
      submission: !check.ok
        ? sha256(`refused\n${check.reason}`)
        : srcDir
          ? submissionFingerprint(srcDir, tamper)
          : 'none',
    };
    const timeoutMs = (options.timeoutSeconds || exercise.timeoutSeconds) * 1000;
    if (options.resume) {
      const stored = readResult(out, submission.id, exercise.name);
      if (
        stored &&
        !regradeOnResume(stored) &&
        stored.fingerprint.pristine === fingerprint.pristine &&
        stored.fingerprint.submission === fingerprint.submission
      ) {
        resumed++;
        options.onEvent?.({ type: 'run', result: stored, resumed: true, ran: false });
        return stored;
      }
    }
    const base = {
      version: 1 as const,
      submission: submission.id,
      exercise: exerciseInfo(exercise),
      tamper,
      fingerprint,
      gradedAt: new Date().toISOString(),
    };
    let result: StoredResult;
    let ran = false;
    if (f.record.error) {
      result = { ...base, ...noRun('error', f.record.error), retry: true };
    } else if (!check.ok) {
      result = { ...base, ...noRun('error', check.reason) };
    } else if (!srcDir || check.srcFiles.length === 0) {
      result = {
        ...base,
        ...noRun(
          'error',
          `Nothing submitted for this exercise: ${srcDir && existsNoFollow(srcDir) ? `exercises/${exercise.name}/src/ is empty` : `there is no exercises/${exercise.name}/src/`}.`,
        ),
        notSubmitted: true,
      };
    } else {
      options.onEvent?.({ type: 'run-start', submission: submission.id, exercise: exercise.name });
      ran = true;
      try {
        const run = await runGraded({
          exercise,
          srcDir,
          label: `grade-${submission.id}`,
          pinned: pinnedTests.get(exercise.name) as PinnedTests,
          sandbox: sandbox.sandboxed,
          ...(options.timeoutSeconds ? { timeoutMs: options.timeoutSeconds * 1000 } : {}),
          env: scrubbedEnv(),
          ...(options.signal ? { signal: options.signal } : {}),
        });
        if (options.signal?.aborted) return undefined;
        result = {
          ...base,
          status: run.status,
          message: run.message,
          passed: run.passed,
          total: run.passed + run.failed,
          tests: run.tests,
          durationMs: run.durationMs,
          output: run.status === 'pass' ? '' : run.output.slice(-4000),
          sandboxed: run.sandboxed,
          ...(run.integrity.length > 0 ? { integrity: { ok: false as const, reasons: run.integrity } } : {}),
        };
      } catch (err) {
        // The grader's own failure (a workspace that cannot be written…): this run scores 0,
        // the batch goes on, and --resume tries it again.
        result = {
          ...base,
          ...noRun('error', `The grader could not run this exercise: ${err instanceof Error ? err.message : err}`),
          retry: true,
        };
      }
    }
    if (ran) result.timeoutMs = timeoutMs;
    writeResult(out, result);
    graded++;
    options.onEvent?.({ type: 'run', result, resumed: false, ran });
    return result;
  }

  // Clones and extracted zips of submissions an interruption left unfinished.
  for (const f of fetched.values()) safeCleanup(await f.catch(() => undefined));
  const interrupted = options.signal?.aborted ?? false;
  if (!interrupted) manifest.finishedAt = new Date().toISOString();
  writeManifest(out, manifest);
  writeReports(out);
  return { out, manifest, graded, resumed, interrupted, wallMs: Math.round(performance.now() - started), pool: report };
}

/** Copy each exercise, without its starter src/, to `<out>/.pristine/<name>`; the copies stand in for the originals. */
function snapshotExercises(exercises: Exercise[], out: string): Exercise[] {
  return exercises.map((exercise) => {
    const dir = join(out, PRISTINE_DIR, exercise.name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const entry of readdirSync(exercise.dir)) {
      if (entry === 'src' || entry === 'node_modules' || entry === '.turbo') continue;
      cpSync(join(exercise.dir, entry), join(dir, entry), { recursive: true });
    }
    return { ...exercise, dir };
  });
}

/**
 * Whether --resume grades a stored result again even though the code and tests are the same:
 *  - a failure of the grader (retry: a clone that failed, a workspace that could not be written);
 *  - a timeout or an error: the machine may have been busy, a service down, the timeout too
 *    short — and it may be another --timeout now;
 * but never an exercise not submitted, nor a run whose integrity check failed (the same code
 * would fail it again).
 */
export function regradeOnResume(stored: StoredResult): boolean {
  if (stored.retry) return true;
  if (stored.notSubmitted || integrityReasons(stored).length > 0) return false;
  return stored.status === 'timeout' || stored.status === 'error';
}

function safeCleanup(f: FetchedSubmission | undefined): void {
  try {
    f?.cleanup();
  } catch {
    // a clone that cannot be removed stays in <out>/.sources; it is removed on the next batch
  }
}

function noRun(status: 'error', message: string) {
  return { status, message, passed: 0, total: 0, tests: [], durationMs: 0, output: '' };
}

/** True when `out` already holds results (the CLI says what --resume would keep). */
export function hasResults(out: string): boolean {
  return existsSync(join(out, 'grade.json'));
}
