import { nextExercise } from '../choose.ts';
import { c, mark } from '../output.ts';
import { loadProgress, type Progress } from '../progress.ts';
import { listExercises, listLessons } from '../repo.ts';

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
      `${c.bold(`Lesson ${lesson.id}`)}  ${lesson.title}  ${c.dim(`lessons/${lesson.name}`)}${quizMark(progress, lesson.id)}`,
    );
    for (const e of exercises.filter((x) => x.lesson === lesson.id)) {
      const solved = Boolean(progress.solved[e.id]);
      const isNext = next?.id === e.id;
      const line = `   ${solved ? mark.ok : isNext ? c.cyan('▶') : mark.todo} exercise ${e.id} ${e.title}${isNext ? c.cyan('  ← next') : ''}`;
      lines.push(isNext ? c.bold(line) : line);
    }
  }
  lines.push('');
  if (next) {
    lines.push(
      `Next: read lesson ${next.lesson} (\`npx cachelab read ${next.lesson}\`) and try it (\`npx cachelab demo ${next.lesson}\`),`,
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
    console.log(
      JSON.stringify(
        { exercises, solved: exercises.filter((e) => e.solvedAt).length, total: exercises.length, quizzes },
        null,
        2,
      ),
    );
    return 0;
  }
  console.log(renderHome());
  return 0;
}
