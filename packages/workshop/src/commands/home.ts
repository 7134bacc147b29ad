import { nextExercise } from '../choose.ts';
import { readCommand, stepCount } from '../lesson-steps.ts';
import { c, mark } from '../output.ts';
import { loadProgress, type Progress, stepsRead } from '../progress.ts';
import { type Lesson, listExercises, listLessons } from '../repo.ts';

/**
 * The home screen as text: every lesson with its exercises, in order, with progress marks
 * and the next thing to do. Also what non-interactive use (CI, pipes) prints.
 */
export function renderHome(): string {
  const progress = loadProgress();
  const lessons = listLessons();
  const exercises = listExercises();
  const next = nextExercise();
  const lines: string[] = [];
  const solvedCount = exercises.filter((e) => progress.solved[e.id]).length;
  lines.push(c.bold('cachelab — caching for web APIs, lesson by lesson'));
  lines.push(`${solvedCount} of ${exercises.length} exercises solved`);
  lines.push('');
  for (const lesson of lessons) {
    lines.push(
      `${c.bold(`Lesson ${lesson.id}`)}  ${lesson.title}  ${c.dim(`lessons/${lesson.name}`)}${stepsMark(progress, lesson)}${quizMark(progress, lesson.id)}`,
    );
    for (const e of exercises.filter((x) => x.lesson === lesson.id)) {
      const solved = Boolean(progress.solved[e.id]);
      const isNext = next?.id === e.id;
      const stretch = progress.stretch[e.id] ? c.dim('  + stretch goal') : '';
      const line = `   ${solved ? mark.ok : isNext ? c.cyan('▶') : mark.todo} exercise ${e.id} ${e.title}${stretch}${isNext ? c.cyan('  ← next') : ''}`;
      lines.push(isNext ? c.bold(line) : line);
    }
  }
  lines.push('');
  if (next) {
    const lesson = lessons.find((l) => l.id === next.lesson);
    const step = lesson ? nextStep(progress, lesson) : 1;
    lines.push(
      `Next: read lesson ${next.lesson}${step > 1 ? ` from step ${step}` : ''} (\`${readCommand(next.lesson, step)}\`) and try it (\`npx cachelab demo ${next.lesson}\`),`,
    );
    lines.push(`      then solve exercise ${next.id} with \`npx cachelab watch\` (tests re-run on every save).`);
  } else if (exercises.length > 0) {
    lines.push('Every exercise is solved. Well done!');
  }
  lines.push('');
  lines.push(
    c.dim(
      'Commands: read NN · demo NN · run NN · quiz NN · watch · verify [NN] · hint NN · diff NN · reset NN · progress · doctor · help',
    ),
  );
  return lines.join('\n');
}

/**
 * A lesson in steps: how many, and how many read ("3 steps, 1 read"). From the steps/ folder's
 * listing and progress alone: no lesson text is read here. Nothing for a one-page lesson.
 */
function stepsMark(progress: Progress, lesson: Lesson): string {
  const total = stepCount(lesson);
  if (total === 1) return '';
  const read = stepsRead(progress, lesson.id).filter((n) => n <= total).length;
  if (read === total) return `  ${mark.ok} ${total} steps read`;
  return `  ${total} steps${read > 0 ? `, ${read} read` : ''}`;
}

/** The first step of a lesson not read yet (1 when none is, or all are). */
function nextStep(progress: Progress, lesson: Lesson): number {
  const read = new Set(stepsRead(progress, lesson.id));
  const total = stepCount(lesson);
  if (read.size === 0) return 1;
  for (let n = 1; n <= total; n++) if (!read.has(n)) return n;
  return 1;
}

/**
 * A lesson's best quiz score, from progress alone: the quiz files are not read here, so the
 * home screen stays as light as it was. Nothing until the quiz has been taken.
 */
function quizMark(progress: Progress, lessonId: string): string {
  const best = progress.quizzes[lessonId];
  if (!best) return '';
  const text = `quiz ${best.score}/${best.of} ${c.dim(best.at.slice(0, 10))}`;
  return `  ${best.score === best.of ? `${mark.ok} ${text}` : text}`;
}

export function progressCommand(options: { json?: boolean }): number {
  const progress = loadProgress();
  if (options.json) {
    const exercises = listExercises().map((e) => ({
      id: e.id,
      name: e.name,
      title: e.title,
      lesson: e.lesson,
      solvedAt: progress.solved[e.id] ?? null,
      // When its stretch tests first passed (`cachelab verify NN --stretch`), null until then.
      stretchAt: progress.stretch[e.id] ?? null,
      hintsSeen: progress.hints[e.id] ?? 0,
    }));
    // Each lesson's best quiz score and the last attempt (null until the quiz is taken).
    const quizzes = listLessons().map((l) => {
      const q = progress.quizzes[l.id];
      return {
        lesson: l.id,
        name: l.name,
        best: q ? { score: q.score, of: q.of, at: q.at } : null,
        last: q ? q.last : null,
      };
    });
    // Each lesson's steps (1 for a one-page lesson) and those read (`cachelab read NN.M`).
    const lessons = listLessons().map((l) => ({
      lesson: l.id,
      name: l.name,
      steps: stepCount(l),
      stepsRead: stepsRead(progress, l.id),
    }));
    console.log(
      JSON.stringify(
        { exercises, solved: exercises.filter((e) => e.solvedAt).length, total: exercises.length, quizzes, lessons },
        null,
        2,
      ),
    );
    return 0;
  }
  console.log(renderHome());
  return 0;
}
