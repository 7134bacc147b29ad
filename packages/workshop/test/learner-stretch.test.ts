import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listExercises, REPO_ROOT } from '../src/repo.ts';
import { applyStretchPatch } from '../src/stretch.ts';
import { cachelab, createLearner } from './learner-kit.ts';

/**
 * `cachelab verify NN --stretch` as a learner drives it, on a copy of exercise 01, whose
 * stretch goal (unknown parameters are a 400 naming them) has 3 tests in stretch/: the starter,
 * the reference solution (solved, stretch not done) and the solution with stretch.patch (both).
 */
const EXERCISE = '01-validate-input';
const learner = createLearner('stretch');
const run = (args: string[]) => cachelab(args, learner.env);
const progress = async () => {
  const { out } = await run(['progress', '--json']);
  return (
    JSON.parse(out) as { exercises: { id: string; solvedAt: string | null; stretchAt: string | null }[] }
  ).exercises.find((e) => e.id === '01');
};
const useSrc = (from: string) => {
  rmSync(learner.src(EXERCISE), { recursive: true, force: true });
  cpSync(from, learner.src(EXERCISE), { recursive: true });
};

beforeAll(() => learner.checkout(EXERCISE));
afterAll(() => learner.dispose());

describe('verify --stretch', { timeout: 120_000 }, () => {
  it('is in verify’s help', async () => {
    const { code, out } = await run(['verify', '--help']);
    expect(code, out).toBe(0);
    expect(out).toMatch(/-s, --stretch +also check the exercise's stretch goal/);
  });

  it('on the starter: the main checks fail, the stretch ones are reported apart, nothing is recorded', async () => {
    const { code, out } = await run(['verify', '01', '--stretch']);
    expect(code, out).toBe(1);
    expect(out).toMatch(/✗ 01 validate-input failed: \d+ of 32 checks failed\./);
    expect(out).toMatch(/✗ stretch: \d of 3 checks passed\./);
    expect(out).toContain('make the main checks pass first');
    expect(await progress()).toMatchObject({ solvedAt: null, stretchAt: null });
  });

  it('after a plain verify that passes, points to the stretch goal and how to check it', async () => {
    useSrc(join(REPO_ROOT, 'solutions', EXERCISE, 'src'));
    const { code, out } = await run(['verify', '01']);
    expect(code, out).toBe(0);
    // Only the main tests ran: the stretch tests are never part of a plain verify.
    expect(out).toMatch(/✓ 01 validate-input passed: All 32 checks passed\./);
    expect(out).not.toMatch(/stretch: \d/);
    expect(out).toMatch(
      /Stretch goal \(exercises\/01-validate-input\/README\.md\): Reject parameters the endpoint does not know/,
    );
    expect(out).toContain('`npx cachelab verify 01 --stretch`');
  });

  it('on the reference solution: solved, the stretch checks that fail with their messages, exit 1, no stretch recorded', async () => {
    const { code, out } = await run(['verify', '01', '--stretch']);
    expect(code, out).toBe(1);
    expect(out).toMatch(/✓ 01 validate-input passed: All 32 checks passed\./);
    expect(out).toMatch(/✗ stretch: 1 of 3 checks passed\./);
    expect(out).toContain('rejects ?sort=amount with a 400 problem naming `sort`');
    expect(out).toContain('`sort` is not a parameter of GET /payments');
    // Exit 1 is the stretch's: the output says the exercise itself counts as solved.
    expect(out).toContain('Exercise 01 is solved (progress counts it); the stretch goal is optional');
    const p = await progress();
    expect(p?.solvedAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(p?.stretchAt).toBeNull();
  });

  it('with the stretch solution: both pass, the stretch pass is recorded beside solved, and a plain verify says so', async () => {
    const exercise = listExercises().find((e) => e.name === EXERCISE);
    if (!exercise) throw new Error(`no exercise ${EXERCISE}`);
    const patched = applyStretchPatch(exercise);
    try {
      useSrc(patched.srcDir);
    } finally {
      patched.dispose();
    }
    const solvedAt = (await progress())?.solvedAt;
    const { code, out } = await run(['verify', '01', '--stretch']);
    expect(code, out).toBe(0);
    expect(out).toMatch(/✓ 01 validate-input passed: All 32 checks passed\./);
    expect(out).toMatch(/✓ stretch: 3 of 3 checks passed/);
    const p = await progress();
    expect(p?.stretchAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(p?.solvedAt, 'solved keeps the time the main checks first passed').toBe(solvedAt);
    const home = await run([]);
    expect(home.out).toMatch(/exercise 01 .*\+ stretch goal/);
    const plain = await run(['verify', '01']);
    expect(plain.code, plain.out).toBe(0);
    expect(plain.out).toMatch(/Stretch goal done on \d{4}-\d{2}-\d{2}/);
  });
});
