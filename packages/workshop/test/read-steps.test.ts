import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRequest, renderLesson } from '../src/commands/read.ts';
import { listSteps, parseReadQuery, readCommand, stepOfFile, stepTitle } from '../src/lesson-steps.ts';
import { UserError } from '../src/output.ts';
import { loadProgress } from '../src/progress.ts';
import { findLesson, listLessons } from '../src/repo.ts';
import { fixtureTree, writeGoodLesson } from './fixture-lesson.ts';
import { cachelab, createLearner } from './learner-kit.ts';

/**
 * `cachelab read` on a lesson in steps (lesson-steps.ts): which steps a lesson has, what
 * `read NN`, `read NN.M`, `--step M` and `--all` show and how each ends, the one line for a
 * step that does not exist; then the CLI as a learner runs it, on the real lessons, with the
 * steps it read recorded in progress, and a progress file from before steps still loading.
 */

const tree = fixtureTree('read-steps');
afterAll(() => tree.dispose());
writeGoodLesson(tree);
tree.write('lessons/05-fixture/steps/notes.md', '# Not a step: no number\n');
tree.write('lessons/01-single/README.md', '# Lesson 01 — One page\n\nShort enough for one page.\n');
const lesson = () => {
  const found = findLesson('05', tree.root);
  if (!found) throw new Error('the fixture lesson is missing');
  return found;
};

/** What a UserError thrown by `fn` says, and its exit code. */
function refusal(fn: () => unknown): { message: string; exitCode: number } {
  try {
    fn();
  } catch (err) {
    if (err instanceof UserError) return { message: err.message, exitCode: err.exitCode };
    throw err;
  }
  throw new Error('expected a UserError');
}

describe("a lesson's steps", () => {
  it('are its README, then steps/M-slug.md by number; other files of steps/ are not steps', () => {
    expect(listSteps(lesson()).map((s) => [s.number, s.file])).toEqual([
      [1, 'README.md'],
      [2, 'steps/2-delete-on-write.md'],
      [3, 'steps/3-tags.md'],
    ]);
    expect(listSteps(findLesson('01', tree.root) as NonNullable<ReturnType<typeof findLesson>>)).toHaveLength(1);
  });

  it("take their titles from their first lines (step 1's from the Steps line), their numbers from their names", () => {
    expect(listSteps(lesson()).map(stepTitle)).toEqual(['A TTL per kind', 'Delete on write', 'Versions and tags']);
    expect(stepOfFile('README.md')).toBe(1);
    expect(stepOfFile('./steps/3-tags.md')).toBe(3);
    expect(stepOfFile('appendix.md')).toBeUndefined();
    expect(readCommand('05', 1)).toBe('npx cachelab read 05');
    expect(readCommand('05', 3)).toBe('npx cachelab read 05.3');
  });

  it('are asked for as NN.M, with or without leading zeros, or with --step', () => {
    expect(parseReadQuery('05')).toEqual({ lesson: '05' });
    expect(parseReadQuery('5.2')).toEqual({ lesson: '5', step: 2 });
    expect(parseReadQuery('05.02')).toEqual({ lesson: '05', step: 2 });
    expect(parseReadQuery('05-invalidation')).toEqual({ lesson: '05-invalidation' });
    expect(readRequest('05', { step: '3' })).toEqual({ lesson: '05', step: 3, all: false });
    expect(readRequest('5.3', { step: '3' })).toEqual({ lesson: '5', step: 3, all: false });
    expect(readRequest('05', { all: true })).toEqual({ lesson: '05', all: true });
  });

  it('refuse a contradiction or a step that is not a number, with exit code 2', () => {
    expect(refusal(() => readRequest('05.2', { step: '3' }))).toEqual({
      message: '"05.2" is step 2, and --step says 3: give one of them.',
      exitCode: 2,
    });
    expect(refusal(() => readRequest('05.2', { all: true })).exitCode).toBe(2);
    expect(refusal(() => readRequest('05', { step: 'two' })).message).toBe(
      '--step two: a step is a number from 1, e.g. --step 2.',
    );
    expect(refusal(() => readRequest('05.0')).exitCode).toBe(2);
  });
});

describe('reading a lesson in steps', () => {
  const plain = { colour: false, width: 100, root: tree.root };

  it('read NN shows step 1 and ends with how to go on: the next step, its title and its command', () => {
    const { text, shown } = renderLesson(lesson(), {}, plain);
    expect(shown).toEqual([1]);
    expect(text).toContain('# Lesson 05 — Ideas');
    expect(text).not.toContain('Lesson 05, step 2');
    const end = text.trimEnd().split('\n').slice(-2);
    expect(end).toEqual([
      '— lessons/05-fixture/README.md · step 1 of 3',
      'Next: step 2, Delete on write — `npx cachelab read 05.2`',
    ]);
  });

  it('read NN.M shows step M; the last step says so and how to read all of it', () => {
    const two = renderLesson(lesson(), { step: 2 }, plain).text;
    expect(two.startsWith('# Lesson 05, step 2 — Delete on write')).toBe(true);
    expect(two).toContain('Next: step 3, Versions and tags — `npx cachelab read 05.3`');
    const three = renderLesson(lesson(), { step: 3 }, plain).text;
    expect(three).toContain('— lessons/05-fixture/steps/3-tags.md · step 3 of 3');
    expect(three).toContain('That was the last step of lesson 05. All of it on one page: npx cachelab read 05 --all');
    expect(three).not.toContain('Next: step');
  });

  it('--all shows every step in order, each after a rule naming its file', () => {
    const { text, shown } = renderLesson(lesson(), { all: true }, plain);
    expect(shown).toEqual([1, 2, 3]);
    const at = (s: string) => text.indexOf(s);
    expect(at('# Lesson 05 — Ideas')).toBe(0);
    expect(at('── step 2 of 3 · lessons/05-fixture/steps/2-delete-on-write.md ──')).toBeGreaterThan(0);
    expect(at('# Lesson 05, step 2')).toBeGreaterThan(at('── step 2 of 3'));
    expect(at('# Lesson 05, step 3')).toBeGreaterThan(at('# Lesson 05, step 2'));
    expect(text.trimEnd().endsWith('— lessons/05-fixture: 3 steps')).toBe(true);
  });

  it('a step that does not exist: one line naming every step of the lesson, exit code 2', () => {
    const { message, exitCode } = refusal(() => renderLesson(lesson(), { step: 4 }, plain));
    expect(exitCode).toBe(2);
    expect(message).toBe(
      'Lesson 05 has no step 4. Its steps: 05 A TTL per kind · 05.2 Delete on write · 05.3 Versions and tags.',
    );
    expect(message).not.toContain('\n');
  });

  it('a one-page lesson is step 1 only, with no Next line', () => {
    const single = findLesson('1', tree.root) as NonNullable<ReturnType<typeof findLesson>>;
    const { text } = renderLesson(single, {}, plain);
    expect(text.trimEnd().split('\n').at(-1)).toBe('— lessons/01-single/README.md');
    expect(refusal(() => renderLesson(single, { step: 2 }, plain)).message).toBe(
      'Lesson 01 has no step 2. Its steps: 01 One page.',
    );
  });
});

// The real lessons, through the CLI. The lessons are being split one at a time: these take the
// first lesson that has steps, whichever it is now.
const learner = createLearner('read-steps');
afterAll(() => learner.dispose());
const run = (args: string[]) => cachelab(args, learner.env);
const split = listLessons().find((l) => listSteps(l).length > 1);

describe.skipIf(!split)('the CLI on a real lesson in steps', { timeout: 60_000 }, () => {
  const real = split as NonNullable<typeof split>;
  const steps = listSteps(real);
  const second = steps[1] as (typeof steps)[number];

  it('read NN shows the README and ends with the command of step 2 and its title', async () => {
    const { code, out } = await run(['read', real.id]);
    expect(code, out).toBe(0);
    expect(out.startsWith(`# Lesson ${real.id} — `)).toBe(true);
    expect(out.trimEnd().split('\n').at(-1)).toBe(
      `Next: step 2, ${stepTitle(second)} — \`npx cachelab read ${real.id}.2\``,
    );
  });

  it('read N.2 (leading zero dropped) and read NN --step 2 show step 2, the same text', async () => {
    const short = await run(['read', `${Number(real.id)}.2`]);
    expect(short.code, short.out).toBe(0);
    expect(short.out.startsWith(`# Lesson ${real.id}, step 2 — ${stepTitle(second)}`)).toBe(true);
    const option = await run(['read', real.id, '--step', '2']);
    expect(option.out).toBe(short.out);
  });

  it('read NN --all shows every step in order', async () => {
    const { code, out } = await run(['read', real.id, '--all']);
    expect(code, out).toBe(0);
    const firstLines = steps.map((s) => readFileSync(s.path, 'utf8').split('\n', 1)[0] as string);
    const positions = firstLines.map((line) => out.indexOf(line));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it('an unknown step is one line listing the steps, exit 2', async () => {
    const { code, out } = await run(['read', `${real.id}.${steps.length + 1}`]);
    expect(code).toBe(2);
    expect(out.trim().split('\n')).toHaveLength(1);
    expect(out).toContain(`✗ Lesson ${real.id} has no step ${steps.length + 1}. Its steps: ${real.id} `);
    expect(out).toContain(`${real.id}.2 ${stepTitle(second)}`);
  });

  it('progress records the steps read; the home list counts them', async () => {
    const { out } = await run(['progress', '--json']);
    const lessons = (JSON.parse(out) as { lessons: { lesson: string; steps: number; stepsRead: number[] }[] }).lessons;
    const mine = lessons.find((l) => l.lesson === real.id);
    expect(mine?.steps).toBe(steps.length);
    expect(mine?.stepsRead).toEqual(steps.map((s) => s.number)); // read NN, N.2 and --all above
    expect(lessons.filter((l) => l.lesson !== real.id).flatMap((l) => l.stepsRead)).toEqual([]);
    const home = await run(['lessons']);
    expect(home.out).toMatch(new RegExp(`Lesson ${real.id} .*✓ ${steps.length} steps read`));
  });
});

describe('progress files from before steps', () => {
  it('load, with no step read, and take steps from then on', async () => {
    const state = join(learner.state, 'old');
    mkdirSync(state, { recursive: true });
    const file = join(state, 'progress.json');
    writeFileSync(
      file,
      JSON.stringify({ version: 1, solved: { '01': '2026-01-01T00:00:00.000Z' }, hints: {}, visited: { '01': 'x' } }),
    );
    const old = loadProgress(file);
    expect(old.visitedSteps).toEqual({});
    expect(old.solved).toEqual({ '01': '2026-01-01T00:00:00.000Z' });
    expect(loadProgress(file).quizzes).toEqual({});
    const env = { ...learner.env, CACHELAB_STATE_DIR: state };
    const home = await cachelab(['lessons'], env);
    expect(home.code, home.out).toBe(0);
    expect(home.out).toMatch(/^1 of \d+ exercises solved$/m);
    const read = await cachelab(['read', '01'], env);
    expect(read.code, read.out).toBe(0);
    expect(existsSync(file)).toBe(true);
    const after = JSON.parse(readFileSync(file, 'utf8')) as ReturnType<typeof loadProgress>;
    expect(after.visitedSteps['01']).toEqual({ '1': expect.any(String) });
    expect(after.solved['01']).toBe('2026-01-01T00:00:00.000Z');
  });
});
