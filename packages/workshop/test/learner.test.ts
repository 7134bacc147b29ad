import { appendFileSync, cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/repo.ts';
import { cachelab, committed, createLearner } from './learner-kit.ts';

/**
 * The workshop as a learner drives it without a terminal (CI, a script, a pipe): the home
 * list, reading a lesson, verify failing then passing, hints, diff and reset — on a copy of
 * exercise 01, with progress in a state folder of the test's own.
 */
const EXERCISE = '01-validate-input';
const learner = createLearner('learner');
const run = (args: string[]) => cachelab(args, learner.env);
const progress = async () => {
  const { out } = await run(['progress', '--json']);
  return JSON.parse(out) as { exercises: { id: string; solvedAt: string | null; hintsSeen: number }[] };
};

const REAL_SRC = join(REPO_ROOT, 'exercises', EXERCISE, 'src');
const realBefore = new Map<string, string>();
beforeAll(() => {
  learner.checkout(EXERCISE);
  for (const f of readdirSync(REAL_SRC)) realBefore.set(f, readFileSync(join(REAL_SRC, f), 'utf8'));
});
afterAll(() => learner.dispose());

// Each step runs the real CLI and, for verify, vitest over real PostgreSQL: seconds, not ms.
describe('a learner without a terminal', { timeout: 120_000 }, () => {
  it('sees every lesson and exercise in order, the next one marked, and the commands to go on', async () => {
    const { code, out } = await run([]);
    expect(code, out).toBe(0);
    expect(out).not.toContain('\x1b[');
    const lesson01 = out.indexOf('Lesson 01');
    const exercise01 = out.indexOf('exercise 01');
    expect(lesson01, 'lesson 01 is listed').toBeGreaterThanOrEqual(0);
    expect(exercise01, 'exercise 01 is listed after its lesson').toBeGreaterThan(lesson01);
    expect(out).toMatch(/exercise 01 .*← next/);
    expect(out).toContain('npx cachelab watch');
    expect(out).toMatch(/read NN · demo NN/);
  });

  it('reads a lesson rendered as plain text, its table drawn, without a pager or colour', async () => {
    const { code, out } = await run(['read', '01']);
    expect(code, out).toBe(0);
    expect(out).toContain('# Lesson 01');
    expect(out).toMatch(/┌─+┬/);
    expect(out).toMatch(/│ GET \/employees\/:id +│/);
    expect(out).not.toContain('\x1b[');
    expect(out).not.toContain('**'); // bold markers are rendered, not shown
  });

  it('is told which lessons exist when it asks to read one that does not', async () => {
    const { code, out } = await run(['read', '99']);
    expect(code).toBe(2);
    expect(out).toMatch(/There is no lesson "99"\. Lessons: 01/);
    expect(out).not.toMatch(/\n\s+at /);
  });

  it('fails verify on the starter with the wrong behaviour in its own terms, failing checks first and passing ones counted', async () => {
    const { code, out } = await run(['verify', '01']);
    expect(code, out).toBe(1);
    expect(out).toMatch(/✗ 01 validate-input failed: \d+ of \d+ checks failed\./);
    expect(out).toContain('investor ids are case-insensitive, demo_inv is DEMO_INV');
    const firstFail = out.indexOf('  ✗ ');
    const firstPass = out.indexOf('  ✓ ');
    expect(firstFail, 'a failing check is shown').toBeGreaterThan(0);
    expect(firstPass, 'failing checks come before passing ones').toBeGreaterThan(firstFail);
    expect(out).toMatch(/✓ \d+ other checks pass/);
    expect(out).toMatch(/… and \d+ more failing/);
    expect(out).toContain('npx cachelab verify 01 --all');
    expect(out).toContain('npx cachelab hint 01');
    expect(out).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('shows every failing check with --all', async () => {
    const { out } = await run(['verify', '01', '--all']);
    expect(out).not.toMatch(/more failing/);
    expect(out).not.toMatch(/other checks pass/);
    expect(out.match(/must be rejected with 400/g)?.length ?? 0).toBeGreaterThan(5);
  });

  it('gets the hints one at a time, gentlest first, and progress remembers how many', async () => {
    const first = await run(['hint', '01']);
    expect(first.out).toMatch(/Hint 1 of \d+/);
    const second = await run(['hint', '01']);
    expect(second.out).toMatch(/Hint 2 of \d+/);
    const p = await progress();
    expect(p.exercises.find((e) => e.id === '01')?.hintsSeen).toBe(2);
  });

  it('is not shown the reference solution before passing, unless it says --yes', async () => {
    const refused = await run(['diff', '01']);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/You have not passed 01 yet.*--yes/);
    expect(refused.out).not.toContain('+++');
    const shown = await run(['diff', '01', '--yes']);
    expect(shown.code, shown.out).toBe(0);
    expect(shown.out).toContain(`+++ b/solutions/${EXERCISE}/src/payments-query.ts`);
    expect(shown.out).toMatch(/^-.*TODO/m); // the starter's TODO goes…
    expect(shown.out).toMatch(/^\+.*safeParse/m); // …and the answer comes
  });

  it('passes verify once the solution is in its src/, records it, and is pointed to the next step', async () => {
    cpSync(join(REPO_ROOT, 'solutions', EXERCISE, 'src'), learner.src(EXERCISE), { recursive: true });
    const { code, out } = await run(['verify', '01']);
    expect(code, out).toBe(0);
    expect(out).toMatch(/✓ 01 validate-input passed: All \d+ checks passed\./);
    // Exercise 02 belongs to lesson 02, which the learner has not read yet: the lesson comes first.
    expect(out).toMatch(/Next: lesson 02 .*`npx cachelab read 02`.*exercise 02 memoize-payments/);
    expect(out).toContain('npx cachelab diff 01');
    const p = await progress();
    expect(p.exercises.find((e) => e.id === '01')?.solvedAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    const diff = await run(['diff', '01']);
    expect(diff.out, 'after passing, diff needs no --yes').toContain('is the same as solutions/01-validate-input/src');
  });

  it('is refused a reset without a terminal to confirm on, and nothing changes', async () => {
    const file = join(learner.src(EXERCISE), 'app.ts');
    const before = readFileSync(file, 'utf8');
    const { code, out } = await run(['reset', '01']);
    expect(code).toBe(1);
    expect(out).toMatch(/replaced .*app\.ts/);
    expect(out).toMatch(/Not reset: nobody is here to confirm\..*--yes/);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('resets to the committed starter with --yes, keeping its own version in a backup', async () => {
    const src = learner.src(EXERCISE);
    appendFileSync(join(src, 'app.ts'), '\n// my own idea\n');
    writeFileSync(join(src, 'notes.ts'), 'export const mine = 1;\n');
    const { code, out } = await run(['reset', '01', '--yes']);
    expect(code, out).toBe(0);
    expect(out).toMatch(/removed .*notes\.ts/);
    expect(out).toMatch(/✓ 01 validate-input is back to its starter\. Your version: /);
    expect(out, 'the exercise was solved: a reset must say it takes that away').toMatch(
      /un-solved 01 validate-input \(solved on \d{4}-\d{2}-\d{2}[\s\S]*no longer marked solved; `npx cachelab verify 01` marks it again/,
    );
    for (const f of ['app.ts', 'main.ts', 'payments-query.ts']) {
      expect(readFileSync(join(src, f), 'utf8'), `${f} is the starter again`).toBe(
        await committed(`exercises/${EXERCISE}/src/${f}`),
      );
    }
    expect(existsSync(join(src, 'notes.ts')), 'a file the starter does not have is removed').toBe(false);
    const backups = readdirSync(join(learner.state, 'backups'));
    expect(backups).toHaveLength(1);
    const backup = join(learner.state, 'backups', backups[0] as string);
    expect(backups[0]).toMatch(/^01-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}$/);
    expect(readFileSync(join(backup, 'app.ts'), 'utf8')).toContain('// my own idea');
    expect(readFileSync(join(backup, 'notes.ts'), 'utf8')).toContain('mine');
    const p = await progress();
    expect(p.exercises.find((e) => e.id === '01')?.solvedAt, 'the starter is not solved').toBeNull();
    const again = await run(['reset', '01']);
    expect(again.out).toContain('already the starter: nothing to reset');
  });

  it('never touches the real exercises/*/src', () => {
    for (const [f, content] of realBefore) expect(readFileSync(join(REAL_SRC, f), 'utf8'), f).toBe(content);
  });
});
