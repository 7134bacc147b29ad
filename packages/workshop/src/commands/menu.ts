import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Separator, select } from '@inquirer/prompts';
import { nextExercise } from '../choose.ts';
import { readHints } from '../hints.ts';
import { listSteps, readCommand, stepCount, stepTitle } from '../lesson-steps.ts';
import { c, fail, mark, UserError, warn } from '../output.ts';
import { loadProgress, PROGRESS_FILE, stepsRead } from '../progress.ts';
import { type Exercise, type Lesson, listExercises, listLessons } from '../repo.ts';
import { homeNotes } from '../services.ts';
import { hint } from './hint.ts';
import { read } from './read.ts';

/**
 * The home screen on a terminal: every lesson and exercise in order, with progress marks
 * and the next thing to do preselected. Choosing one opens what can be done with it —
 * read, try (demo), run, watch, verify, hint, diff, reset — and comes back here after.
 *
 * Each choice is also a command (shown under the list), so the menu teaches the CLI.
 * Anything that runs for a while or owns the terminal (a server, watch, verify, a reset's
 * question) runs as a child `cachelab <command>`: its Ctrl-C stops it and returns here,
 * and it cannot leave listeners or state behind in the menu.
 */

const BIN = fileURLToPath(new URL('../../bin/cachelab.js', import.meta.url));

type Home = `lesson:${string}` | `exercise:${string}` | 'watch' | 'quit';

type Action =
  | 'read'
  | `read:${number}`
  | 'read-all'
  | 'demo'
  | 'run'
  | 'quiz'
  | 'task'
  | 'watch'
  | 'verify'
  | 'hint'
  | 'diff'
  | 'reset'
  | 'back'
  | `exercise:${string}`;

/** Run `cachelab <args>` in the foreground; the menu ignores Ctrl-C meanwhile (the child gets it). */
function runCli(args: string[]): Promise<number> {
  const ignore = () => {};
  process.on('SIGINT', ignore);
  return new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: 'inherit' });
    child.once('error', () => resolve(1));
    child.once('exit', (code) => resolve(code ?? 1));
  }).finally(() => process.off('SIGINT', ignore));
}

/**
 * Throw away keys typed before the menu was on screen (a slow start, a key pressed while a
 * child command ended): the learner could not see what they would choose, and a buffered
 * Enter followed by arrows would select one item while the screen shows another.
 */
async function discardTypeAhead(): Promise<void> {
  if (!process.stdin.isTTY) return;
  const discard = () => {};
  process.stdin.setRawMode(true);
  process.stdin.on('data', discard);
  process.stdin.resume();
  await new Promise((resolve) => setTimeout(resolve, 25));
  process.stdin.off('data', discard);
  process.stdin.pause();
  process.stdin.setRawMode(false);
}

/** Ask, or undefined when the learner pressed Ctrl-C / Esc-style exit. */
async function ask<T>(config: Parameters<typeof select<T>>[0]): Promise<T | undefined> {
  await discardTypeAhead();
  try {
    return await select<T>(config);
  } catch (err) {
    if (err instanceof Error && (err.name === 'ExitPromptError' || err.name === 'AbortPromptError')) return undefined;
    throw err;
  }
}

function pageSize(): number {
  return Math.max(8, Math.min(30, (process.stdout.rows ?? 24) - 6));
}

function homeChoices(lessons: Lesson[], exercises: Exercise[], next: Exercise | undefined) {
  const progress = loadProgress();
  const choices: (Separator | { value: Home; name: string; description: string })[] = [];
  for (const lesson of lessons) {
    const visited = Boolean(progress.visited[lesson.id]);
    // Steps from the folder listing only: the home screen reads no lesson text.
    const total = stepCount(lesson);
    const read = stepsRead(progress, lesson.id).filter((n) => n <= total).length;
    const steps = total > 1 ? `  ${c.dim(read > 0 ? `${read} of ${total} steps read` : `${total} steps`)}` : '';
    choices.push({
      value: `lesson:${lesson.id}`,
      name: `${visited ? mark.ok : c.cyan('•')} Lesson ${lesson.id}  ${c.bold(lesson.title)}${steps}`,
      description: `Read it, try it (MISS vs HIT, measured), run its server. Same as: npx cachelab read ${lesson.id} · demo ${lesson.id} · run ${lesson.id}`,
    });
    for (const e of exercises.filter((x) => x.lesson === lesson.id)) {
      const solved = Boolean(progress.solved[e.id]);
      const isNext = next?.id === e.id;
      choices.push({
        value: `exercise:${e.id}`,
        name: `    ${solved ? mark.ok : isNext ? c.cyan('▶') : mark.todo} Exercise ${e.id}  ${e.title}${isNext ? c.cyan('  ← next') : ''}`,
        description: `Solve it: watch mode re-runs its tests on every save. Same as: npx cachelab watch ${e.id} · verify ${e.id} · hint ${e.id}`,
      });
    }
  }
  const orphans = exercises.filter((e) => !lessons.some((l) => l.id === e.lesson));
  for (const e of orphans) {
    choices.push({
      value: `exercise:${e.id}`,
      name: `    ${progress.solved[e.id] ? mark.ok : mark.todo} Exercise ${e.id}  ${e.title}`,
      description: `npx cachelab watch ${e.id}`,
    });
  }
  choices.push(new Separator(' '));
  if (next)
    choices.push({
      value: 'watch',
      name: `Solve the next exercise (${next.id}) in watch mode`,
      description:
        'Tests re-run on every save; keys: h hint, l list, c check all, r reset, q quit. Same as: npx cachelab watch',
    });
  choices.push({ value: 'quit', name: 'Quit', description: 'Come back with `npm start` (or `npx cachelab`).' });
  return choices;
}

/** What to preselect: the next exercise — or its lesson, when that lesson has not been opened yet. */
function preselect(next: Exercise | undefined): Home {
  if (!next) return 'quit';
  const visited = loadProgress().visited;
  return visited[next.lesson] ? `exercise:${next.id}` : `lesson:${next.lesson}`;
}

export async function menu(): Promise<number> {
  // Say up front what is not ready: a service that does not answer, a database not seeded yet.
  for (const note of await homeNotes()) warn(note);
  let focus: Home | undefined;
  for (;;) {
    const lessons = listLessons();
    const exercises = listExercises();
    const next = nextExercise();
    const solved = exercises.filter((e) => loadProgress().solved[e.id]).length;
    console.log('');
    console.log(
      `${c.bold('cachelab')} — caching for web APIs, lesson by lesson  ${c.dim(`${solved} of ${exercises.length} exercises solved`)}`,
    );
    const choice = await ask<Home>({
      message: 'What next?',
      choices: homeChoices(lessons, exercises, next),
      default: focus ?? preselect(next),
      pageSize: pageSize(),
      loop: false,
    });
    if (choice === undefined || choice === 'quit') {
      console.log(`Bye. Your progress is saved in ${relative(process.cwd(), PROGRESS_FILE) || PROGRESS_FILE}.`);
      return 0;
    }
    focus = choice;
    if (choice === 'watch') {
      await runCli(['watch']);
      focus = undefined;
      continue;
    }
    const [kind, id] = choice.split(':') as ['lesson' | 'exercise', string];
    let go: Action | undefined = kind === 'lesson' ? await lessonMenu(id) : await exerciseMenu(id);
    // A lesson's menu can lead to its exercise's.
    while (go?.startsWith('exercise:')) {
      const exerciseId = go.slice('exercise:'.length);
      focus = `exercise:${exerciseId}`;
      go = await exerciseMenu(exerciseId);
    }
    if (go === undefined) {
      console.log(`Bye. Your progress is saved in ${relative(process.cwd(), PROGRESS_FILE) || PROGRESS_FILE}.`);
      return 0;
    }
  }
}

/** Run a menu action, printing an expected failure as one line instead of leaving the menu. */
async function attempt(fn: () => Promise<unknown> | unknown): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof UserError) fail(err.message);
    else throw err;
  }
}

/** A lesson's actions; resolves to 'back', an exercise to open, or undefined on Ctrl-C. */
async function lessonMenu(id: string): Promise<Action | undefined> {
  const lesson = listLessons().find((l) => l.id === id);
  if (!lesson) return 'back';
  const exercises = listExercises().filter((e) => e.lesson === id);
  const hasServer = existsSync(join(lesson.dir, 'src', 'main.ts'));
  // A lesson in steps offers each step (✓ once read) and the whole; a one-page lesson, itself.
  const steps = listSteps(lesson).map((s) => ({ number: s.number, title: stepTitle(s) }));
  const done = () => new Set(stepsRead(loadProgress(), id));
  const firstUnread = steps.find((s) => !done().has(s.number));
  let focus: Action =
    steps.length > 1
      ? firstUnread
        ? `read:${firstUnread.number}`
        : hasServer
          ? 'demo'
          : 'read-all'
      : loadProgress().visited[id] && hasServer
        ? 'demo'
        : 'read';
  for (;;) {
    const seen = done();
    const reading =
      steps.length > 1
        ? [
            ...steps.map((s) => ({
              value: `read:${s.number}` as Action,
              name: `${seen.has(s.number) ? mark.ok : mark.todo} Step ${s.number}: ${s.title}`,
              description: readCommand(id, s.number),
            })),
            {
              value: 'read-all' as Action,
              name: 'The whole lesson, every step in order',
              description: `npx cachelab read ${id} --all`,
            },
          ]
        : [{ value: 'read' as Action, name: 'Read the lesson', description: `npx cachelab read ${id}` }];
    const choices = [
      ...reading,
      ...(hasServer
        ? [
            {
              value: 'demo' as Action,
              name: 'Try it: first request vs repeated ones, timed here',
              description: `Starts the lesson's server, sends the classic requests, shows X-Cache and Server-Timing. Same as: npx cachelab demo ${id}`,
            },
            {
              value: 'run' as Action,
              name: 'Run its server (Ctrl-C to stop and come back)',
              description: `Then curl it or open it in a browser. Same as: npx cachelab run ${id}`,
            },
          ]
        : []),
      {
        value: 'quiz' as Action,
        name: quizName(id),
        description: `The lesson's "Check yourself", one question at a time, with why after each. Same as: npx cachelab quiz ${id}`,
      },
      ...exercises.map((e) => ({
        value: `exercise:${e.id}` as Action,
        name: `Exercise ${e.id}: ${e.title}`,
        description: `npx cachelab watch ${e.id}`,
      })),
      { value: 'back' as Action, name: '← Back', description: 'The list of lessons and exercises.' },
    ];
    const action: Action | undefined = await ask<Action>({
      message: `Lesson ${id} — ${lesson.title}`,
      choices,
      default: focus,
      pageSize: pageSize(),
      loop: false,
    });
    if (action === undefined || action === 'back' || action.startsWith('exercise:')) return action;
    const afterReading: Action = hasServer ? 'demo' : exercises[0] ? `exercise:${exercises[0].id}` : 'back';
    if (action === 'read' || action === 'read-all') {
      await attempt(() => read(id, { all: action === 'read-all' }));
      focus = afterReading;
    } else if (action.startsWith('read:')) {
      const n: number = Number(action.slice('read:'.length));
      await attempt(() => read(id, { step: String(n) }));
      // On to the next step, or, after the last one, to trying the lesson out.
      const next: { number: number } | undefined = steps.find((s) => s.number > n);
      focus = next ? `read:${next.number}` : afterReading;
    } else if (action === 'demo') {
      await runCli(['demo', id]);
      focus = exercises[0] ? `exercise:${exercises[0].id}` : 'run';
    } else if (action === 'run') {
      await runCli(['run', id]);
      focus = exercises[0] ? `exercise:${exercises[0].id}` : 'back';
    } else if (action === 'quiz') {
      await runCli(['quiz', id]);
      focus = exercises[0] ? `exercise:${exercises[0].id}` : 'back';
    }
  }
}

/** The quiz's menu line, with the best score so far. */
function quizName(lessonId: string): string {
  const best = loadProgress().quizzes[lessonId];
  return best ? `Check yourself: the quiz (best ${best.score} of ${best.of})` : 'Check yourself: the quiz';
}

/** An exercise's actions; resolves to 'back' or undefined on Ctrl-C. */
async function exerciseMenu(id: string): Promise<Action | undefined> {
  const exercise = listExercises().find((e) => e.id === id);
  if (!exercise) return 'back';
  let focus: Action = 'task';
  for (;;) {
    const progress = loadProgress();
    const solved = Boolean(progress.solved[id]);
    const hints = readHints(exercise).length;
    const seen = Math.min(progress.hints[id] ?? 0, hints);
    const choices = [
      { value: 'task' as Action, name: 'Read the task', description: `npx cachelab read ${id} --exercise` },
      {
        value: 'watch' as Action,
        name: 'Solve it in watch mode (tests re-run on every save)',
        description: `Keys: h hint, l list, c check all, r reset, q quit. Same as: npx cachelab watch ${id}`,
      },
      { value: 'verify' as Action, name: 'Verify once', description: `npx cachelab verify ${id}` },
      {
        value: 'hint' as Action,
        name: hints === 0 ? 'Hint (none for this one)' : `Hint ${Math.min(seen + 1, hints)} of ${hints}`,
        description: `npx cachelab hint ${id}`,
        disabled: hints === 0,
      },
      {
        value: 'diff' as Action,
        name: solved ? 'Compare with the reference solution' : 'Compare with the reference solution (shows the answer)',
        description: `npx cachelab diff ${id}`,
      },
      {
        value: 'reset' as Action,
        name: 'Reset to the starter (your version is backed up)',
        description: `npx cachelab reset ${id}`,
      },
      { value: 'back' as Action, name: '← Back', description: 'The list of lessons and exercises.' },
    ];
    const action: Action | undefined = await ask<Action>({
      message: `Exercise ${id} — ${exercise.title}${solved ? c.green('  ✓ solved') : ''}`,
      choices,
      default: focus,
      pageSize: pageSize(),
      loop: false,
    });
    if (action === undefined || action === 'back') return action;
    focus = action;
    switch (action) {
      case 'task':
        await attempt(() => read(id, { exercise: true }));
        focus = 'watch';
        break;
      case 'watch':
        await runCli(['watch', id]);
        focus = loadProgress().solved[id] ? 'diff' : 'hint';
        break;
      case 'verify': {
        const code = await runCli(['verify', id]);
        focus = code === 0 ? 'diff' : 'hint';
        break;
      }
      case 'hint':
        await attempt(() => hint(id));
        focus = 'watch';
        break;
      case 'diff':
        await runCli(['diff', id]);
        focus = 'back';
        break;
      case 'reset':
        await runCli(['reset', id]);
        focus = 'watch';
        break;
    }
  }
}
