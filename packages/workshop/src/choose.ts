import { UserError } from './output.ts';
import { loadProgress } from './progress.ts';
import { type Exercise, findExercise, listExercises } from './repo.ts';

// Which exercise a command means. Its own module, light on imports, so that the home screen
// and `hint` do not load the test runner to find out.

/**
 * The exercise `verify` picks when none is named: the first one not yet solved, in the order
 * of the course (by lesson, then by number: exercise 14 belongs to lesson 03 and comes after 03).
 */
export function nextExercise(): Exercise | undefined {
  const solved = loadProgress().solved;
  return inCourseOrder(listExercises()).find((e) => !solved[e.id]);
}

/** Exercises by lesson, then by number. */
export function inCourseOrder(exercises: readonly Exercise[]): Exercise[] {
  return [...exercises].sort((a, b) => a.lesson.localeCompare(b.lesson) || a.id.localeCompare(b.id));
}

export function resolveExercise(query: string | undefined): Exercise {
  if (query === undefined) {
    const next = nextExercise();
    if (!next) throw new UserError('Every exercise is solved. 🎉 Run `npx cachelab progress` to see them all.', 0);
    return next;
  }
  const exercise = findExercise(query);
  if (!exercise) {
    const ids = listExercises()
      .map((e) => e.id)
      .join(', ');
    throw new UserError(`There is no exercise "${query}". Exercises: ${ids}. List them with \`npx cachelab\`.`, 2);
  }
  return exercise;
}
