import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describePool, mapAdaptive } from '../concurrency.ts';
import { readHints } from '../hints.ts';
import { c, fail, indent, ok, progress } from '../output.ts';
import { lintQuiz } from '../quiz.ts';
import { type Exercise, listExercises, listLessons, REPO_ROOT } from '../repo.ts';
import { type RunResult, runExercise } from '../runner/run-exercise.ts';
import { listFiles } from '../runner/workspace.ts';
import { applyWrongAnswer, listWrongAnswers, MIN_WRONG_ANSWERS, type WrongAnswer } from '../wrong-answers.ts';
import { requireServices } from './doctor.ts';

/**
 * The self-check maintainers and CI rely on (`npm test` ends with it):
 *  1. the structure: every exercise has a task, hints, tests, a starter with a TODO, metadata
 *     and a solution that mirrors its files; every lesson a README and a quiz of at least
 *     MIN_QUIZ_QUESTIONS questions (quiz.ts); ids are unique; no stray folders;
 *  2. honesty: each exercise's tests FAIL on its starter and PASS on its solution, run by
 *     the same mechanism as verify and grade;
 *  3. the wrong answers of its catalog (at least MIN_WRONG_ANSWERS per exercise) (`solutions/NN-slug/wrong/*.patch`, wrong-answers.ts)
 *     each FAIL, by assertion, and the check names the test that caught each one.
 */
const FOLDER = /^\d{2}-[a-z0-9]+(?:-[a-z0-9]+)*$/;

export function lintStructure(root: string = REPO_ROOT): string[] {
  const problems: string[] = [];
  const exercises = listExercises(root);
  const lessons = new Set(listLessons(root).map((l) => l.id));
  for (const top of ['lessons', 'exercises', 'solutions']) {
    const dir = join(root, top);
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && !FOLDER.test(entry.name)) {
        problems.push(
          `${top}/${entry.name}: not an NN-slug folder name. Rename it (two digits, a dash, a kebab-case slug) or remove it.`,
        );
      }
    }
  }
  for (const lesson of listLessons(root)) {
    if (!existsSync(join(lesson.dir, 'README.md')))
      problems.push(`lessons/${lesson.name}: no README.md. The README is the lesson: write it.`);
    // Its "Check yourself" as a quiz (`cachelab quiz NN`): enough valid questions, each with an
    // explanation and a See: link to a heading the README has.
    problems.push(...lintQuiz(lesson, root));
  }
  const seen = new Map<string, string>();
  for (const e of exercises) {
    const at = `exercises/${e.name}`;
    const other = seen.get(e.id);
    if (other)
      problems.push(`${at}: its number ${e.id} is also used by exercises/${other}. Give each exercise its own number.`);
    seen.set(e.id, e.name);
    const meta = existsSync(join(e.dir, 'package.json'))
      ? (JSON.parse(readFileSync(join(e.dir, 'package.json'), 'utf8')).cachelab as Record<string, unknown> | undefined)
      : undefined;
    if (!meta)
      problems.push(
        `${at}/package.json: no "cachelab" metadata. Add { "title", "lesson", "points", "timeoutSeconds" }.`,
      );
    else {
      if (typeof meta.title !== 'string' || !meta.title)
        problems.push(`${at}/package.json: cachelab.title is missing.`);
      if (typeof meta.lesson !== 'string' || !lessons.has(meta.lesson))
        problems.push(
          `${at}/package.json: cachelab.lesson "${String(meta.lesson)}" is not a lesson id (${[...lessons].join(', ')}).`,
        );
      if (typeof meta.points !== 'number' || meta.points <= 0)
        problems.push(`${at}/package.json: cachelab.points must be a positive number.`);
      if (typeof meta.timeoutSeconds !== 'number' || meta.timeoutSeconds <= 0)
        problems.push(`${at}/package.json: cachelab.timeoutSeconds must be a positive number.`);
    }
    if (!existsSync(join(e.dir, 'README.md'))) problems.push(`${at}: no README.md. Write the task for the learner.`);
    if (readHints(e).length < 2)
      problems.push(`${at}/hints.md: needs at least two "## Hint N" sections, gentlest first.`);
    const tests = listFiles(join(e.dir, 'test')).filter((f) => f.endsWith('.test.ts'));
    if (tests.length === 0) problems.push(`${at}/test: no *.test.ts. Write the grading tests.`);
    const starter = listFiles(join(e.dir, 'src'));
    if (starter.length === 0) problems.push(`${at}/src: no starter code.`);
    else if (!starter.some((f) => readFileSync(join(e.dir, 'src', f), 'utf8').includes('TODO')))
      problems.push(`${at}/src: no \`// TODO:\` in the starter. Mark where the learner works.`);
    const solution = `solutions/${e.name}`;
    if (!existsSync(e.solutionDir)) {
      problems.push(`${solution}: missing. Every exercise needs its reference solution.`);
      continue;
    }
    if (!existsSync(join(e.solutionDir, 'README.md')))
      problems.push(`${solution}: no README.md. Explain why this answer.`);
    const solved = listFiles(join(e.solutionDir, 'src'));
    const missing = starter.filter((f) => !solved.includes(f));
    const extra = solved.filter((f) => !starter.includes(f));
    if (missing.length > 0)
      problems.push(`${solution}/src: lacks ${missing.join(', ')} (the solution mirrors the starter file for file).`);
    if (extra.length > 0)
      problems.push(
        `${solution}/src: has ${extra.join(', ')} that the starter does not (add them to the starter, or remove them).`,
      );
    const wrongs = listWrongAnswers(e);
    if (wrongs.length < MIN_WRONG_ANSWERS)
      problems.push(
        `${solution}/wrong: ${wrongs.length} wrong answer${wrongs.length === 1 ? '' : 's'}, at least ${MIN_WRONG_ANSWERS} wanted. Add the mistakes a learner really makes (a TTL's unit, a key that misses a parameter, an order of invalidation, a failure path, a bound on one side only) as patches of the solution.`,
      );
    for (const wrong of wrongs)
      if (!wrong.why)
        problems.push(
          `${solution}/wrong/${wrong.name}.patch: starts without a "# …" line saying what is wrong and why a learner would write it.`,
        );
  }
  const names = new Set(exercises.map((e) => e.name));
  const solutionsDir = join(root, 'solutions');
  if (existsSync(solutionsDir)) {
    for (const entry of readdirSync(solutionsDir, { withFileTypes: true })) {
      if (entry.isDirectory() && FOLDER.test(entry.name) && !names.has(entry.name))
        problems.push(`solutions/${entry.name}: no exercise of that name. Remove it or add exercises/${entry.name}.`);
    }
  }
  return problems;
}

export interface CheckOutcome {
  exercise: Exercise;
  starter: RunResult;
  solution: RunResult;
  ok: boolean;
  problems: string[];
}

export function judge(exercise: Exercise, starter: RunResult, solution: RunResult): CheckOutcome {
  const problems: string[] = [];
  if (starter.status === 'pass')
    problems.push(
      `its starter PASSES all ${starter.passed} tests: the tests do not test the task (or the starter already solves it).`,
    );
  else if (starter.status !== 'fail')
    problems.push(
      `its starter does not run cleanly (${starter.status}): ${starter.message} A starter must import and run, and fail by assertion.`,
    );
  if (solution.status !== 'pass') {
    const failing = solution.tests.filter((t) => t.status === 'fail' || t.status === 'error');
    problems.push(
      `its solution does not pass (${solution.status}): ${solution.message}` +
        (failing.length > 0 ? `\n${failing.map((t) => `  ✗ ${t.name}: ${t.message.split('\n')[0]}`).join('\n')}` : ''),
    );
  }
  if (solution.status === 'pass' && starter.tests.length !== solution.tests.length && starter.status === 'fail')
    problems.push(
      `the starter ran ${starter.tests.length} tests and the solution ${solution.tests.length}: both must run the same tests.`,
    );
  return { exercise, starter, solution, ok: problems.length === 0, problems };
}

export interface WrongVerdict {
  wrong: WrongAnswer;
  ok: boolean;
  /** "caught by <test>" or what is wrong with the wrong answer. */
  text: string;
}

/** A wrong answer must run and fail by assertion (or time out): a pass, or code that cannot run, is a problem. */
export function judgeWrong(wrong: WrongAnswer, result: RunResult | Error): WrongVerdict {
  if (result instanceof Error) return { wrong, ok: false, text: result.message };
  if (result.status === 'pass')
    return {
      wrong,
      ok: false,
      text: `wrong answer ${wrong.name} PASSES all ${result.passed} tests: no test catches it (${wrong.why})`,
    };
  if (result.status === 'error')
    return {
      wrong,
      ok: false,
      text: `wrong answer ${wrong.name} does not run (${result.message}): a wrong answer is code a learner would run, caught by an assertion`,
    };
  if (result.status === 'timeout') return { wrong, ok: true, text: `${wrong.name}: caught by the timeout` };
  const catcher = result.tests.find((t) => t.status !== 'pass');
  return { wrong, ok: true, text: `${wrong.name}: caught by "${catcher?.name ?? result.message}"` };
}

/** "07 wrong bump-with-get-then-set 14.2 s, …": where a check's time goes. */
function slowest(
  jobs: readonly { exercise: Exercise; kind: string; wrong?: WrongAnswer }[],
  results: readonly (RunResult | Error)[],
  n: number,
): string {
  return jobs
    .map((job, i) => {
      const r = results[i];
      return { job, ms: r instanceof Error || r === undefined ? 0 : r.durationMs };
    })
    .sort((a, b) => b.ms - a.ms)
    .slice(0, n)
    .map(
      ({ job, ms }) =>
        `${job.exercise.id} ${job.wrong ? `wrong ${job.wrong.name}` : job.kind} ${(ms / 1000).toFixed(1)} s`,
    )
    .join(', ');
}

export async function check(options: { only?: string[]; concurrency?: number } = {}): Promise<number> {
  const structure = lintStructure();
  let failed = structure.length > 0;
  if (structure.length > 0) {
    fail(`structure: ${structure.length} problem${structure.length === 1 ? '' : 's'}`);
    for (const p of structure) console.log(indent(p, 4));
  } else {
    ok(
      'structure: every lesson has a README and a quiz; every exercise has a task, hints, tests, a starter with TODOs, metadata and a mirrored solution',
    );
  }
  let exercises = listExercises();
  if (options.only && options.only.length > 0) {
    const wanted = new Set(options.only.map((s) => s.padStart(2, '0')));
    exercises = exercises.filter((e) => wanted.has(e.id) || wanted.has(e.name));
  }
  if (exercises.length === 0) {
    fail('no exercises to check');
    return 1;
  }
  await requireServices();
  // --concurrency N: exactly N. Otherwise as many as cores to begin with, and more while the
  // CPU sits idle (runs wait on timers and the services much of the time: concurrency.ts).
  const pool = options.concurrency ? { min: options.concurrency, max: options.concurrency } : {};
  type Job = { exercise: Exercise; kind: 'starter' | 'solution' | 'wrong'; srcDir?: string; wrong?: WrongAnswer };
  const jobs: Job[] = exercises.flatMap((exercise) => [
    { exercise, kind: 'starter' as const, srcDir: join(exercise.dir, 'src') },
    { exercise, kind: 'solution' as const, srcDir: join(exercise.solutionDir, 'src') },
    ...listWrongAnswers(exercise).map((wrong) => ({ exercise, kind: 'wrong' as const, wrong })),
  ]);
  const wrongCount = jobs.filter((j) => j.kind === 'wrong').length;
  const spinner = progress(
    `Checking ${exercises.length} exercises: each starter must fail, each solution pass${wrongCount > 0 ? `, each of ${wrongCount} wrong answers fail` : ''} (${jobs.length} runs, ${options.concurrency ? `${options.concurrency} at a time` : 'as many at a time as the CPU allows'})…`,
  );
  const started = Date.now();
  const { results, report } = await mapAdaptive(jobs, pool, async (job): Promise<RunResult | Error> => {
    if (job.kind !== 'wrong')
      return runExercise({
        exercise: job.exercise,
        srcDir: job.srcDir as string,
        label: `check-${job.kind}-${job.exercise.id}`,
      });
    const wrong = job.wrong as WrongAnswer;
    let applied: ReturnType<typeof applyWrongAnswer>;
    try {
      applied = applyWrongAnswer(job.exercise, wrong);
    } catch (err) {
      return err as Error;
    }
    try {
      return await runExercise({
        exercise: job.exercise,
        srcDir: applied.srcDir,
        label: `check-wrong-${job.exercise.id}-${wrong.name}`,
      });
    } finally {
      applied.dispose();
    }
  });
  spinner.done();
  console.log(c.dim(`${describePool(report)}.`));
  for (const exercise of exercises) {
    const mine = jobs.flatMap((job, i) => (job.exercise === exercise ? [{ job, result: results[i] }] : []));
    const starter = mine.find((m) => m.job.kind === 'starter')?.result as RunResult;
    const solution = mine.find((m) => m.job.kind === 'solution')?.result as RunResult;
    const outcome = judge(exercise, starter, solution);
    const wrongs = mine
      .filter((m) => m.job.kind === 'wrong')
      .map((m) => judgeWrong(m.job.wrong as WrongAnswer, m.result as RunResult | Error));
    const wrongProblems = wrongs.filter((w) => !w.ok).map((w) => w.text);
    if (outcome.ok && wrongProblems.length === 0) {
      ok(
        `${exercise.id} ${exercise.slug}: starter fails ${outcome.starter.failed} of ${outcome.starter.tests.length} tests, solution passes all ${outcome.solution.passed}${wrongs.length > 0 ? `, ${wrongs.length} wrong answer${wrongs.length === 1 ? '' : 's'} caught` : ''}`,
      );
      for (const w of wrongs) console.log(indent(c.dim(w.text), 4));
    } else {
      failed = true;
      fail(`${exercise.id} ${exercise.slug}:`);
      for (const p of [...outcome.problems, ...wrongProblems]) console.log(indent(p, 4));
    }
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    failed
      ? c.red(`cachelab check failed (${seconds} s).`)
      : c.green(
          `cachelab check: ${exercises.length} exercise${exercises.length === 1 ? '' : 's'} honest (${seconds} s).`,
        ),
  );
  console.log(c.dim(`Slowest runs: ${slowest(jobs, results, 5)}.`));
  return failed ? 1 : 0;
}
