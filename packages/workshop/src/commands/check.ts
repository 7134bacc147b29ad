import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describePool, mapAdaptive } from '../concurrency.ts';
import { readHints } from '../hints.ts';
import { APPENDIX_FILE, listSteps, parseStepTitleLine, STEP_FILE, STEPS_DIR, type Step } from '../lesson-steps.ts';
import { countWords, type Heading, headings, LIST_ITEM, type ProseLine, proseLines } from '../markdown.ts';
import { markdownLinks } from '../markdown-links.ts';
import { c, fail, indent, ok, progress, warn } from '../output.ts';
import { lintQuiz } from '../quiz.ts';
import { type Exercise, type Lesson, listExercises, listLessons, REPO_ROOT } from '../repo.ts';
import { type RunResult, runExercise } from '../runner/run-exercise.ts';
import { listFiles } from '../runner/workspace.ts';
import { applyStretchPatch, hasStretchTests, judgeStretch, lintStretch } from '../stretch.ts';
import { applyWrongAnswer, listWrongAnswers, MIN_WRONG_ANSWERS, type WrongAnswer } from '../wrong-answers.ts';
import { requireServices } from './doctor.ts';

/**
 * The self-check maintainers and CI rely on (`npm test` ends with it):
 *  1. the structure: every exercise has a task, hints, tests, a starter with a TODO, metadata
 *     and a solution that mirrors its files; every lesson a README and a quiz of at least
 *     MIN_QUIZ_QUESTIONS questions (quiz.ts), and a text in short steps (lintLessonTexts);
 *     ids are unique; no stray folders;
 *  2. honesty: each exercise's tests FAIL on its starter and PASS on its solution, run by
 *     the same mechanism as verify and grade;
 *  3. the wrong answers of its catalog (at least MIN_WRONG_ANSWERS per exercise) (`solutions/NN-slug/wrong/*.patch`, wrong-answers.ts)
 *     each FAIL, by assertion, and the check names the test that caught each one;
 *  4. an exercise's stretch tests (stretch.ts) FAIL on its solution and PASS, with its main
 *     tests, on the solution with `solutions/NN-slug/stretch.patch` applied.
 */
const FOLDER = /^\d{2}-[a-z0-9]+(?:-[a-z0-9]+)*$/;

export function lintStructure(
  root: string = REPO_ROOT,
  notYetInSteps: readonly string[] = LESSONS_NOT_YET_IN_STEPS,
): string[] {
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
    // explanation and a See: link to a heading the README (or a step) has.
    problems.push(...lintQuiz(lesson, root));
  }
  // Its text in short steps, each with what it teaches and its takeaways (below).
  problems.push(...lintLessonTexts(root, notYetInSteps));
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
    problems.push(...lintStretch(e));
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

// ---------------------------------------------------------------------------------------------
// The lessons' texts in short steps (issue 17 item 1; lesson-steps.ts has the layout).

/**
 * Lessons whose texts do not follow the steps convention YET: their README.md has no
 * "## You will learn". It exists only because the lessons are rewritten one at a time: each one
 * listed here is skipped by the lint below, and `cachelab check` names them in a warning. The
 * list must only shrink, and be empty once every lesson is rewritten (then remove it): when a
 * listed lesson's README gains "## You will learn", check FAILS until its name is taken out of
 * this list, and from then on the lesson is linted strictly like every other.
 */
export const LESSONS_NOT_YET_IN_STEPS: readonly string[] = [];

/** A step holds at most this many words, outside code blocks and comments (markdown.ts countWords). */
export const MAX_STEP_WORDS = 2000;
/** "## You will learn" has exactly this many bullets. */
export const LEARN_BULLETS = 3;
/** "## Takeaways" has this many bullets, from…to. */
export const TAKEAWAY_BULLETS = [3, 5] as const;
/** The short intro paragraph a step may have before "## You will learn", in words at most. */
export const MAX_INTRO_WORDS = 150;
/** The sections that may follow "## Takeaways", in any order. */
const AFTER_TAKEAWAYS = ['Next', 'Check yourself', 'Links'];

const LEARN = /^you will learn$/i;

/** Does this lesson's README follow the steps convention (it has "## You will learn")? */
function inSteps(lesson: Lesson): boolean {
  const readme = join(lesson.dir, 'README.md');
  return existsSync(readme) && headings(readFileSync(readme, 'utf8')).some((h) => h.level === 2 && LEARN.test(h.title));
}

/** The lessons LESSONS_NOT_YET_IN_STEPS (or `notYetInSteps`) exempts, as `NN-slug`: what check warns about. */
export function lessonsAwaitingSteps(
  root: string = REPO_ROOT,
  notYetInSteps: readonly string[] = LESSONS_NOT_YET_IN_STEPS,
): string[] {
  return listLessons(root)
    .filter((l) => notYetInSteps.includes(l.name) && !inSteps(l))
    .map((l) => l.name);
}

/**
 * Every lesson not exempted follows the steps convention (lesson-steps.ts, and the root
 * README's "For maintainers"): its step files are numbered 2, 3 … with nothing missing, each
 * (README.md and steps/M-slug.md) has the title line, "## You will learn" with 3 bullets
 * after at most a short intro, the README of a lesson with steps its "**Steps:**" line,
 * "## Takeaways" with 3–5 bullets followed only by Next, Check yourself (last step) and Links,
 * and at most 2,000 words; an appendix.md is linked from a step. An exemption that is no longer
 * needed, or names no lesson, is a problem too.
 */
export function lintLessonTexts(
  root: string = REPO_ROOT,
  notYetInSteps: readonly string[] = LESSONS_NOT_YET_IN_STEPS,
): string[] {
  const problems: string[] = [];
  const lessons = listLessons(root);
  const where = 'LESSONS_NOT_YET_IN_STEPS (packages/workshop/src/commands/check.ts)';
  for (const name of notYetInSteps)
    if (!lessons.some((l) => l.name === name))
      problems.push(`${where} names ${name}, which is not a lesson folder: remove it from the list.`);
  for (const lesson of lessons) {
    if (!existsSync(join(lesson.dir, 'README.md'))) continue; // lintStructure says so
    if (notYetInSteps.includes(lesson.name)) {
      if (!inSteps(lesson)) continue;
      problems.push(
        `lessons/${lesson.name}: its README follows the steps convention now ("## You will learn"): remove it from ${where}, so that it is linted like the others.`,
      );
    }
    problems.push(...lintLessonSteps(lesson, root));
  }
  return problems;
}

/** The steps convention, for one lesson. */
export function lintLessonSteps(lesson: Lesson, root: string = REPO_ROOT): string[] {
  const problems: string[] = [];
  const rel = (path: string) => relative(root, path);
  const stepsDir = join(lesson.dir, STEPS_DIR);
  if (existsSync(stepsDir)) {
    for (const name of readdirSync(stepsDir).filter((n) => n.endsWith('.md')))
      if (!STEP_FILE.exec(name) || name.startsWith('0') || name.startsWith('1-'))
        problems.push(
          `${rel(join(stepsDir, name))}: not a step's name. Steps are steps/M-slug.md, M from 2 (step 1 is the README): steps/2-delete-on-write.md.`,
        );
  }
  const steps = listSteps(lesson).filter((s) => s.number > 1);
  steps.forEach((step, i) => {
    if (step.number !== i + 2)
      problems.push(
        `${rel(step.path)}: is step ${step.number} but comes ${i + 2}${i === 0 ? 'nd' : i === 1 ? 'rd' : 'th'}: number the steps 2, 3, 4 … without gaps or repeats (the lesson's steps: ${steps.map((s) => s.file.slice(STEPS_DIR.length + 1)).join(', ')}).`,
      );
  });
  const all = listSteps(lesson);
  const texts = new Map(all.map((s) => [s.file, existsSync(s.path) ? readFileSync(s.path, 'utf8') : '']));
  all.forEach((step, i) => {
    problems.push(
      ...lintStepText(texts.get(step.file) ?? '', {
        file: rel(step.path),
        lessonId: lesson.id,
        step: step.number,
        last: i === all.length - 1,
        steps: all.length > 1 ? all : undefined,
      }),
    );
  });
  const appendix = join(lesson.dir, APPENDIX_FILE);
  if (existsSync(appendix)) {
    const linked = all.some((step) =>
      markdownLinks(texts.get(step.file) ?? '').some((link) => {
        const path = link.target.split('#')[0] as string;
        return path !== '' && resolve(dirname(step.path), path) === appendix;
      }),
    );
    if (!linked)
      problems.push(
        `${rel(appendix)}: no step links to it. Link it from the step whose caveat it explains: one sentence saying what it means for the reader, and [the appendix](${all.length > 1 ? '../' : ''}appendix.md#section).`,
      );
  }
  return problems;
}

/** The convention for one step file (`README.md` is step 1). */
export function lintStepText(
  text: string,
  ctx: {
    /** For messages: `lessons/05-invalidation/steps/2-x.md`. */
    file: string;
    lessonId: string;
    step: number;
    /** The lesson's last step (Check yourself goes there). */
    last: boolean;
    /** Every step of the lesson, when it has more than one (the README's Steps line lists them). */
    steps?: Step[] | undefined;
  },
): string[] {
  const problems: string[] = [];
  const at = (line?: number) => (line === undefined ? ctx.file : `${ctx.file}:${line}`);
  const lines = proseLines(text);
  const hs = headings(text);
  const readme = ctx.step === 1;
  const title = readme ? `# Lesson ${ctx.lessonId} — Title` : `# Lesson ${ctx.lessonId}, step ${ctx.step} — Title`;
  const first = text.split('\n', 1)[0] ?? '';
  const parsed = parseStepTitleLine(first);
  if (
    !parsed ||
    parsed.lesson !== ctx.lessonId ||
    parsed.step !== ctx.step ||
    (readme && /^#\s+Lesson\s+\d+,/.test(first))
  )
    problems.push(`${at(1)}: the first line must be "${title}" (it is "${first.trim()}").`);

  /** The lines of the section under heading `h`, up to the next heading. */
  const sectionOf = (h: Heading) => {
    const next = hs.find((x) => x.line > h.line);
    return lines.filter((l) => l.line > h.line && (next === undefined || l.line < next.line));
  };
  const bullets = (section: ProseLine[]) => section.filter((l) => !l.code && LIST_ITEM.test(l.text));
  const h2 = hs.filter((h) => h.level <= 2 && h.line > 1);
  const learn = h2.find((h) => h.level === 2 && LEARN.test(h.title));
  const takeaways = h2.find((h) => h.level === 2 && /^takeaways$/i.test(h.title));

  if (!learn) {
    problems.push(
      `${at()}: no "## You will learn": after the title (and at most a short intro paragraph), ${LEARN_BULLETS} bullets saying what the reader will be able to do after this ${readme ? 'page' : 'step'}.`,
    );
  } else {
    const before = hs.filter((h) => h.line > 1 && h.line < learn.line);
    if (before.length > 0)
      problems.push(
        `${at(learn.line)}: "## You will learn" comes after "${before[0]?.title}": only a short intro paragraph may come before it.`,
      );
    const intro = lines.filter((l) => l.line > 1 && l.line < learn.line);
    const blocks = intro.filter(
      (l, i) =>
        (l.code || l.text.trim() !== '') && (i === 0 || (!intro[i - 1]?.code && intro[i - 1]?.text.trim() === '')),
    ).length;
    const introWords = countWords(intro.map((l) => l.text).join('\n'));
    if (blocks > 1 || intro.some((l) => l.code))
      problems.push(
        `${at(learn.line)}: ${blocks} blocks before "## You will learn": at most one short intro paragraph (move the rest into the step's content).`,
      );
    else if (introWords > MAX_INTRO_WORDS)
      problems.push(
        `${at(learn.line)}: the intro before "## You will learn" has ${introWords} words: keep it short (at most ${MAX_INTRO_WORDS}), the rest belongs in the content.`,
      );
    const learnBullets = bullets(sectionOf(learn));
    if (learnBullets.length !== LEARN_BULLETS)
      problems.push(
        `${at(learn.line)}: "## You will learn" has ${learnBullets.length} bullet${learnBullets.length === 1 ? '' : 's'}; exactly ${LEARN_BULLETS} wanted (what the reader will be able to do after this ${readme ? 'page' : 'step'}).`,
      );
  }

  // The Steps line: in the README of a lesson with steps, right after You will learn's bullets.
  const stepsLine = lines.find((l) => !l.code && /^\*\*Steps:?\*\*/.test(l.text.trim()));
  if (readme && ctx.steps) {
    const expected = ctx.steps
      .map((s) => (s.number === 1 ? '1. Title (this page)' : `${s.number}. [Title](${s.file})`))
      .join(' · ');
    if (!stepsLine) {
      problems.push(
        `${at()}: the lesson has steps, so right after the bullets of "## You will learn" comes one line: **Steps:** ${expected}`,
      );
    } else {
      const afterBullets = learn ? bullets(sectionOf(learn)).at(-1)?.line : undefined;
      const between = lines.filter(
        (l) =>
          afterBullets !== undefined &&
          l.line > afterBullets &&
          l.line < stepsLine.line &&
          (l.code || (l.text.trim() !== '' && !/^\s+\S/.test(l.text))),
      );
      if (!learn || afterBullets === undefined || stepsLine.line < afterBullets || between.length > 0)
        problems.push(
          `${at(stepsLine.line)}: the **Steps:** line must come right after the bullets of "## You will learn".`,
        );
      const items = stepsLine.text
        .trim()
        .replace(/^\*\*Steps:?\*\*:?\s*/, '')
        .split(/\s+·\s+/);
      const listed = items.map((item) => {
        const m = /^(\d+)\.\s+(.*)$/.exec(item.trim());
        if (!m) return undefined;
        const link = /^\[[^\]]+\]\((?:\.\/)?([^)#\s]+)\)$/.exec((m[2] as string).trim());
        return { number: Number(m[1]), file: link ? (link[1] as string) : undefined, text: (m[2] as string).trim() };
      });
      const right =
        listed.length === ctx.steps.length &&
        ctx.steps.every((s, i) => {
          const item = listed[i];
          if (!item || item.number !== s.number) return false;
          return s.number === 1 ? /\(this page\)$/.test(item.text) : item.file === s.file;
        });
      if (!right)
        problems.push(
          `${at(stepsLine.line)}: the **Steps:** line must list every step in order, this page first: **Steps:** ${expected}`,
        );
    }
  } else if (stepsLine) {
    problems.push(
      readme
        ? `${at(stepsLine.line)}: a **Steps:** line, but the lesson has no steps/ (a lesson of at most ${MAX_STEP_WORDS.toLocaleString('en-US')} words is one page).`
        : `${at(stepsLine.line)}: only the lesson's README.md has the **Steps:** line.`,
    );
  }

  if (!takeaways) {
    problems.push(
      `${at()}: no "## Takeaways": ${TAKEAWAY_BULLETS[0]}–${TAKEAWAY_BULLETS[1]} bullets at the end of the ${readme ? 'page' : 'step'}, what to remember from it.`,
    );
  } else {
    const n = bullets(sectionOf(takeaways)).length;
    if (n < TAKEAWAY_BULLETS[0] || n > TAKEAWAY_BULLETS[1])
      problems.push(
        `${at(takeaways.line)}: "## Takeaways" has ${n} bullet${n === 1 ? '' : 's'}; ${TAKEAWAY_BULLETS[0]}–${TAKEAWAY_BULLETS[1]} wanted.`,
      );
    if (learn && takeaways.line < learn.line)
      problems.push(`${at(takeaways.line)}: "## Takeaways" comes before "## You will learn": it ends the step.`);
    for (const h of h2.filter((x) => x.line > takeaways.line)) {
      const allowed = h.level === 2 && AFTER_TAKEAWAYS.find((a) => a.toLowerCase() === h.title.trim().toLowerCase());
      if (!allowed) {
        problems.push(
          `${at(h.line)}: "${'#'.repeat(h.level)} ${h.title}" after "## Takeaways": only ${AFTER_TAKEAWAYS.map((a) => `## ${a}`).join(', ')} may follow it (move the section before the Takeaways).`,
        );
        continue;
      }
      if (allowed === 'Check yourself' && !ctx.last)
        problems.push(`${at(h.line)}: "## Check yourself" goes in the lesson's last step, not in step ${ctx.step}.`);
      if (allowed === 'Next') {
        const said = sectionOf(h).filter((l) => l.code || l.text.trim() !== '').length;
        if (said > 2)
          problems.push(
            `${at(h.line)}: "## Next" has ${said} lines; one or two: the next step (\`npx cachelab read ${ctx.lessonId}.${ctx.step + 1}\`) and/or the exercise to solve now.`,
          );
      }
    }
  }

  const words = countWords(text);
  if (words > MAX_STEP_WORDS)
    problems.push(
      `${at()}: ${words.toLocaleString('en-US')} words, at most ${MAX_STEP_WORDS.toLocaleString('en-US')} (outside code blocks and HTML comments): split it along a seam into steps/M-slug.md, or move methodology to ${APPENDIX_FILE}.`,
    );
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

/**
 * vitest's main process ended without sending its report: something outside the code under
 * test stopped it (seen once in CI at load average 17). check is the maintainers' proof, not a
 * grade: such a run gets one more try, and only a second loss is a finding.
 */
function lostReport(result: RunResult | Error): boolean {
  return !(result instanceof Error) && result.status === 'error' && /without sending its report/.test(result.message);
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
  // (A run stopped at its first failure lists the tests it skipped after it: not catchers.)
  const catcher = result.tests.find((t) => t.status === 'fail') ?? result.tests.find((t) => t.status !== 'pass');
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
      'structure: every lesson has a README in short steps and a quiz; every exercise has a task, hints, tests, a starter with TODOs, metadata and a mirrored solution',
    );
  }
  const awaiting = lessonsAwaitingSteps();
  if (awaiting.length > 0)
    warn(
      `lesson texts: ${awaiting.length} not in steps yet, not linted (LESSONS_NOT_YET_IN_STEPS in packages/workshop/src/commands/check.ts): ${awaiting.join(', ')}`,
    );
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
  type Job = {
    exercise: Exercise;
    kind: 'starter' | 'solution' | 'wrong' | 'stretch-fail' | 'stretch-pass';
    srcDir?: string;
    wrong?: WrongAnswer;
  };
  const jobs: Job[] = exercises.flatMap((exercise) => [
    { exercise, kind: 'starter' as const, srcDir: join(exercise.dir, 'src') },
    { exercise, kind: 'solution' as const, srcDir: join(exercise.solutionDir, 'src') },
    ...listWrongAnswers(exercise).map((wrong) => ({ exercise, kind: 'wrong' as const, wrong })),
    // A stretch goal: its tests alone on the solution (must fail: stop at the first failure),
    // and everything on the solution with stretch.patch (must pass).
    ...(hasStretchTests(exercise)
      ? [
          { exercise, kind: 'stretch-fail' as const, srcDir: join(exercise.solutionDir, 'src') },
          { exercise, kind: 'stretch-pass' as const },
        ]
      : []),
  ]);
  const wrongCount = jobs.filter((j) => j.kind === 'wrong').length;
  const spinner = progress(
    `Checking ${exercises.length} exercises: each starter must fail, each solution pass${wrongCount > 0 ? `, each of ${wrongCount} wrong answers fail` : ''} (${jobs.length} runs, ${options.concurrency ? `${options.concurrency} at a time` : 'as many at a time as the CPU allows'})…`,
  );
  const started = Date.now();
  const { results, report } = await mapAdaptive(jobs, pool, async (job) => {
    const first = await runJob(job);
    if (!lostReport(first)) return first;
    console.log(
      c.dim(`${job.exercise.id} ${job.wrong?.name ?? job.kind}: vitest ended without its report; running it once more`),
    );
    return runJob(job);
  });
  async function runJob(job: Job): Promise<RunResult | Error> {
    if (job.kind === 'stretch-fail')
      return runExercise({
        exercise: job.exercise,
        srcDir: job.srcDir as string,
        label: `check-stretch-fail-${job.exercise.id}`,
        stretch: 'only',
        bail: 1,
      });
    if (job.kind === 'stretch-pass') {
      let patched: ReturnType<typeof applyStretchPatch>;
      try {
        patched = applyStretchPatch(job.exercise);
      } catch (err) {
        return err as Error;
      }
      try {
        return await runExercise({
          exercise: job.exercise,
          srcDir: patched.srcDir,
          label: `check-stretch-pass-${job.exercise.id}`,
          stretch: 'also',
          timeoutMs: job.exercise.timeoutSeconds * 1500,
        });
      } finally {
        patched.dispose();
      }
    }
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
        // One failing assertion is the verdict: stop there.
        bail: 1,
      });
    } finally {
      applied.dispose();
    }
  }
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
    const stretchFail = mine.find((m) => m.job.kind === 'stretch-fail');
    const stretchPass = mine.find((m) => m.job.kind === 'stretch-pass');
    const stretch =
      stretchFail && stretchPass
        ? judgeStretch(exercise, stretchFail.result as RunResult | Error, stretchPass.result as RunResult | Error)
        : undefined;
    if (stretch) wrongProblems.push(...stretch.problems);
    if (outcome.ok && wrongProblems.length === 0) {
      ok(
        `${exercise.id} ${exercise.slug}: starter fails ${outcome.starter.failed} of ${outcome.starter.tests.length} tests, solution passes all ${outcome.solution.passed}${wrongs.length > 0 ? `, ${wrongs.length} wrong answer${wrongs.length === 1 ? '' : 's'} caught` : ''}`,
      );
      for (const w of wrongs) console.log(indent(c.dim(w.text), 4));
      if (stretch) console.log(indent(c.dim(stretch.text), 4));
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
