import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Exercise } from '../src/repo.ts';
import type { RunResult, TestOutcome } from '../src/runner/run-exercise.ts';
import { runExercise } from '../src/runner/run-exercise.ts';
import { judgeStretch, lintStretch, splitStretch, stretchGoalText } from '../src/stretch.ts';
import { fixtureExercise } from './fixture-exercise.ts';

const root = mkdtempSync(join(tmpdir(), 'cachelab-stretch-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An exercise folder with these files (relative path → content). */
function exercise(name: string, files: Record<string, string>): Exercise {
  const dir = join(root, 'exercises', name);
  const solutionDir = join(root, 'solutions', name);
  for (const [path, content] of Object.entries(files)) {
    const full = join(
      root,
      path.startsWith('solutions/') ? '' : `exercises/${name}`,
      path.replace(/^solutions\//, `solutions/${name}/`),
    );
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, content);
  }
  mkdirSync(dir, { recursive: true });
  return { ...fixtureExercise, id: name.slice(0, 2), slug: name.slice(3), name, dir, solutionDir };
}

const test = (file: string, status: TestOutcome['status'], name = `${file} check`): TestOutcome => ({
  name,
  file,
  status,
  message: status === 'pass' ? '' : `${name} failed`,
  durationMs: 1,
});

function result(tests: TestOutcome[], status: RunResult['status'] = 'fail'): RunResult {
  const passed = tests.filter((t) => t.status === 'pass').length;
  return {
    exercise: fixtureExercise,
    status,
    tests,
    passed,
    failed: tests.length - passed,
    message: `${tests.length - passed} of ${tests.length} checks failed.`,
    durationMs: 10,
    output: '',
    integrity: [],
    sandboxed: false,
  };
}

describe('splitStretch', () => {
  it('judges the main tests alone: a run whose only failures are stretch checks passes', () => {
    const { main, stretch } = splitStretch(
      result([test('test/a.test.ts', 'pass'), test('test/a.test.ts', 'pass'), test('stretch/s.test.ts', 'fail')]),
    );
    expect(main).toMatchObject({ status: 'pass', passed: 2, failed: 0, message: 'All 2 checks passed.' });
    expect(main.tests.every((t) => t.file.startsWith('test/'))).toBe(true);
    expect(stretch).toMatchObject({ passed: 0, failed: 1 });
  });

  it('keeps a main failure a failure, and counts the stretch checks apart', () => {
    const { main, stretch } = splitStretch(
      result([test('test/a.test.ts', 'fail'), test('stretch/s.test.ts', 'pass'), test('stretch/s.test.ts', 'pass')]),
    );
    expect(main).toMatchObject({ status: 'fail', passed: 0, failed: 1, message: '1 of 1 checks failed.' });
    expect(stretch).toMatchObject({ passed: 2, failed: 0 });
  });

  it('leaves a run that did not complete as it was: a timeout is never a pass', () => {
    const { main } = splitStretch(
      result([test('test/a.test.ts', 'pass'), test('stretch/s.test.ts', 'error')], 'timeout'),
    );
    expect(main.status).toBe('timeout');
  });
});

describe('judgeStretch', () => {
  const e = exercise('02-judge', { 'stretch/s.test.ts': '', 'solutions/stretch.patch': '# x\n' });
  const caught = result([test('stretch/s.test.ts', 'fail', 'stretch › names sort')]);
  const both = result([test('test/a.test.ts', 'pass'), test('stretch/s.test.ts', 'pass')], 'pass');

  it('accepts a stretch the solution fails by assertion and the patched solution passes', () => {
    const verdict = judgeStretch(e, caught, both);
    expect(verdict.ok).toBe(true);
    expect(verdict.text).toBe(
      'stretch: the solution fails it (caught by "stretch › names sort"), with stretch.patch it passes its 1 and the 1 main tests (runs of 0.0 s and 0.0 s)',
    );
  });

  it('refuses stretch tests the reference solution already passes: they ask nothing beyond it', () => {
    const verdict = judgeStretch(e, result([test('stretch/s.test.ts', 'pass')], 'pass'), both);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems[0]).toMatch(/the reference solution PASSES its 1 stretch tests/);
  });

  it('refuses stretch tests that do not load on the solution', () => {
    const verdict = judgeStretch(e, { ...result([]), status: 'error', message: 'No test could run: x' }, both);
    expect(verdict.problems[0]).toMatch(/do not run on the reference solution \(No test could run: x\)/);
  });

  it('refuses a stretch patch that breaks a main test, or does not pass the stretch tests', () => {
    const broken = judgeStretch(
      e,
      caught,
      result([test('test/a.test.ts', 'fail', 'main check'), test('stretch/s.test.ts', 'pass')]),
    );
    expect(broken.problems[0]).toMatch(
      /the solution with stretch.patch does not pass \(fail\)[\s\S]*✗ test\/a.test.ts › main check/,
    );
    const notApplied = judgeStretch(e, caught, new Error('stretch.patch: it no longer applies to src/app.ts'));
    expect(notApplied.problems).toEqual(['stretch: stretch.patch: it no longer applies to src/app.ts']);
  });
});

describe('lintStretch', () => {
  it('wants a stretch.patch with its # line for stretch tests, and stretch/ in the tsconfig', () => {
    const e = exercise('03-lint', { 'stretch/s.test.ts': '', 'tsconfig.json': '{"include":["src","test"]}' });
    expect(lintStretch(e)).toEqual([
      'solutions/03-lint/stretch.patch: missing. exercises/03-lint/stretch/ has tests, so a stretch solution (a patch of the solution that passes them) must prove they can pass.',
      'exercises/03-lint/tsconfig.json: its "include" lacks "stretch", so the stretch tests are never type-checked.',
    ]);
    const untitled = exercise('04-lint', {
      'stretch/s.test.ts': '',
      'solutions/stretch.patch': '--- a/src/app.ts\n',
      'tsconfig.json': '{"include":["src","test","stretch"]}',
    });
    expect(lintStretch(untitled)).toEqual([
      'solutions/04-lint/stretch.patch: starts without a "# …" line saying what the stretch solution does.',
    ]);
  });

  it('wants no stretch.patch without stretch tests, and nothing of an exercise without either', () => {
    expect(lintStretch(exercise('05-lint', { 'solutions/stretch.patch': '# x\n' }))).toEqual([
      'solutions/05-lint/stretch.patch: there are no stretch tests (exercises/05-lint/stretch/*.test.ts) for it to pass. Add them, or remove the patch.',
    ]);
    expect(lintStretch(exercise('06-lint', { 'README.md': '# Exercise 06\n' }))).toEqual([]);
  });

  it('wants a stretch goal without tests to say why, in the words verify --stretch points to', () => {
    expect(lintStretch(exercise('10-lint', { 'README.md': '# X\n\n## Stretch goal\n\nMeasure it.\n' }))).toEqual([
      'exercises/10-lint/README.md: its stretch goal has no tests (exercises/10-lint/stretch/*.test.ts) and does not say why: add tests, or a sentence "No tests check this one (`verify 10 --stretch` says so): …" giving the reason.',
    ]);
    expect(
      lintStretch(
        exercise('11-lint', {
          'README.md':
            '# X\n\n## Stretch goal\n\nMeasure it. No tests check this one (`verify 11 --stretch` says so): it is yours.\n',
        }),
      ),
    ).toEqual([]);
  });
});

describe('stretchGoalText', () => {
  it('reads the first sentence of a "## Stretch goal" section or a **Stretch goal:** paragraph', () => {
    expect(
      stretchGoalText(
        exercise('07-text', { 'README.md': '# X\n\n## Stretch goal\n\nReject what you do not\nknow. Then think.\n' }),
      ),
    ).toBe('Reject what you do not know.');
    expect(
      stretchGoalText(
        exercise('08-text', { 'README.md': '# X\n\n**Stretch goal:** add `Last-Modified` too. More.\n\n## Next\n' }),
      ),
    ).toBe('add `Last-Modified` too.');
    expect(stretchGoalText(exercise('09-text', { 'README.md': '# X\n' }))).toBeUndefined();
  });
});

describe('a graded run', () => {
  it('refuses to run stretch tests: they are never required', async () => {
    await expect(
      runExercise({
        exercise: fixtureExercise,
        srcDir: fixtureExercise.solutionDir,
        label: 'x',
        manifest: { tests: [] } as never,
        stretch: 'also',
      }),
    ).rejects.toThrow(/RunOptions.stretch is for verify and check/);
  });
});
