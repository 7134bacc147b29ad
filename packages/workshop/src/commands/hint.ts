import { resolveExercise } from '../choose.ts';
import { readHints } from '../hints.ts';
import { c, UserError } from '../output.ts';
import { loadProgress, updateProgress } from '../progress.ts';
import { renderMarkdown } from './read.ts';

/** Show the next hint of an exercise (each call one more, gentlest first); --all shows those seen again. */
export function hint(query: string | undefined, options: { reset?: boolean } = {}): number {
  const exercise = resolveExercise(query);
  const hints = readHints(exercise);
  if (hints.length === 0) throw new UserError(`Exercise ${exercise.id} has no hints.`);
  if (options.reset) {
    updateProgress((p) => {
      delete p.hints[exercise.id];
    });
    console.log(`Hints for ${exercise.id} start again from the first.`);
    return 0;
  }
  const seen = loadProgress().hints[exercise.id] ?? 0;
  const index = Math.min(seen, hints.length - 1);
  console.log(c.bold(`Hint ${index + 1} of ${hints.length} — ${exercise.id} ${exercise.slug}`));
  console.log('');
  console.log(renderMarkdown(hints[index] ?? '').trimEnd());
  console.log('');
  if (index + 1 < hints.length) {
    updateProgress((p) => {
      p.hints[exercise.id] = index + 1;
    });
    console.log(c.dim(`Run \`npx cachelab hint ${exercise.id}\` again for the next one.`));
  } else {
    updateProgress((p) => {
      p.hints[exercise.id] = hints.length;
    });
    console.log(c.dim(`That was the last hint. The solution's reasoning: solutions/${exercise.name}/README.md`));
  }
  return 0;
}
