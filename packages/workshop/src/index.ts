export { check, judge, lintStructure } from './commands/check.ts';
export { findExercise, findLesson, listExercises, listLessons, REPO_ROOT, STATE_DIR } from './repo.ts';
export { cleanMessage, type RunResult, type RunStatus, runExercise, type TestOutcome } from './runner/run-exercise.ts';
