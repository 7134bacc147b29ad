import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { judge, judgeWrong, lintStructure } from '../src/commands/check.ts';
import { type Exercise, REPO_ROOT } from '../src/repo.ts';
import { type RunResult, runExercise } from '../src/runner/run-exercise.ts';
import { applyWrongAnswer, listWrongAnswers } from '../src/wrong-answers.ts';
import { fixtureExercise, fixturesDir } from './fixture-exercise.ts';

const root = join(REPO_ROOT, '.cachelab', `test-check-${process.pid}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

const meta = (cachelab: object) => JSON.stringify({ name: 'x', cachelab });

describe('cachelab check: the structure lint', () => {
  it('names each problem and its fix', () => {
    write('lessons/01-basics/README.md', '# Basics\n');
    // A complete exercise…
    write('exercises/01-good/package.json', meta({ title: 'Good', lesson: '01', points: 10, timeoutSeconds: 60 }));
    write('exercises/01-good/README.md', '# Good\n');
    write('exercises/01-good/hints.md', '## Hint 1\nA\n## Hint 2\nB\n');
    write('exercises/01-good/test/a.test.ts', '');
    write('exercises/01-good/src/a.ts', '// TODO: do it\n');
    write('solutions/01-good/README.md', '# Why\n');
    write('solutions/01-good/src/a.ts', '// done\n');
    for (const name of ['one', 'two', 'three', 'four', 'five', 'six'])
      write(`solutions/01-good/wrong/${name}.patch`, `# Wrong answer ${name}.\n--- a/src/a.ts\n+++ b/src/a.ts\n`);
    // …and one with everything wrong.
    write('exercises/01-bad/package.json', meta({ title: '', lesson: '07', points: 0 }));
    write('exercises/01-bad/hints.md', '## Hint 1\nonly one\n');
    write('exercises/01-bad/src/a.ts', 'export const a = 1;\n');
    write('solutions/09-orphan/src/a.ts', '');
    mkdirSync(join(root, 'lessons', '02-unwritten'), { recursive: true });
    mkdirSync(join(root, 'exercises', 'scratch'), { recursive: true });

    const list = lintStructure(root);
    const problems = list.join('\n');
    expect(list.filter((p) => p.includes('01-good') && !p.includes('also used by'))).toEqual([]);
    expect(problems).toContain('exercises/01-good: its number 01 is also used by exercises/01-bad');
    expect(problems).toContain('exercises/01-bad/package.json: cachelab.title is missing');
    expect(problems).toContain('cachelab.lesson "07" is not a lesson id (01, 02)');
    expect(problems).toContain('cachelab.points must be a positive number');
    expect(problems).toContain('exercises/01-bad: no README.md');
    expect(problems).toContain('exercises/01-bad/hints.md: needs at least two "## Hint N" sections');
    expect(problems).toContain('exercises/01-bad/test: no *.test.ts');
    expect(problems).toContain('exercises/01-bad/src: no `// TODO:` in the starter');
    expect(problems).toContain('solutions/01-bad: missing');
    expect(problems).toContain('solutions/09-orphan: no exercise of that name');
    expect(problems).toContain('exercises/scratch: not an NN-slug folder name');
    expect(problems).toContain('lessons/02-unwritten: no README.md');
  });

  it('requires the solution to mirror the starter file for file', () => {
    write('exercises/02-mirror/package.json', meta({ title: 'M', lesson: '01', points: 5, timeoutSeconds: 30 }));
    write('exercises/02-mirror/README.md', '# M\n');
    write('exercises/02-mirror/hints.md', '## Hint 1\nA\n## Hint 2\nB\n');
    write('exercises/02-mirror/test/a.test.ts', '');
    write('exercises/02-mirror/src/a.ts', '// TODO: x\n');
    write('exercises/02-mirror/src/b.ts', '');
    write('solutions/02-mirror/README.md', '# Why\n');
    write('solutions/02-mirror/src/a.ts', '');
    write('solutions/02-mirror/src/c.ts', '');
    const problems = lintStructure(root).join('\n');
    expect(problems).toContain('solutions/02-mirror/src: lacks b.ts');
    expect(problems).toContain('solutions/02-mirror/src: has c.ts that the starter does not');
    expect(problems).toContain('solutions/02-mirror/wrong: 0 wrong answers, at least 6 wanted');
  });
});

describe('cachelab check: honesty', () => {
  const exercise = { id: '01', slug: 'x', name: '01-x' } as Exercise;
  const run = (status: RunResult['status'], passed: number, failed: number): RunResult => ({
    exercise,
    status,
    passed,
    failed,
    integrity: [],
    sandboxed: false,
    tests: Array.from({ length: passed + failed }, (_, i) => ({
      name: `t${i}`,
      file: 'test/a.test.ts',
      status: i < passed ? ('pass' as const) : ('fail' as const),
      message: i < passed ? '' : 'expected 1 to be 2',
      durationMs: 1,
    })),
    message: '',
    durationMs: 1,
    output: '',
  });

  it('accepts a starter that fails and a solution that passes', () => {
    expect(judge(exercise, run('fail', 1, 2), run('pass', 3, 0)).ok).toBe(true);
  });

  it('rejects a starter that already passes: its tests do not test the task', () => {
    const outcome = judge(exercise, run('pass', 3, 0), run('pass', 3, 0));
    expect(outcome.ok).toBe(false);
    expect(outcome.problems[0]).toMatch(/starter PASSES all 3 tests/);
  });

  it('rejects a starter that crashes instead of failing by assertion', () => {
    expect(judge(exercise, run('error', 0, 0), run('pass', 3, 0)).problems[0]).toMatch(
      /does not run cleanly \(error\)/,
    );
  });

  it('rejects a solution that fails, naming the failing test', () => {
    const outcome = judge(exercise, run('fail', 1, 2), run('fail', 2, 1));
    expect(outcome.problems.join('\n')).toMatch(/solution does not pass[\s\S]*✗ t2: expected 1 to be 2/);
  });
});

describe('cachelab check: the catalog of wrong answers', () => {
  const solution = join(root, 'wrong-catalog');
  const exercise: Exercise = { ...fixtureExercise, solutionDir: solution };
  const patch = (name: string, text: string) => write(`wrong-catalog/wrong/${name}.patch`, text);
  const vat = (from: string, to: string, why = '# A wrong answer.\n') =>
    `${why}--- a/src/price.ts\n+++ b/src/price.ts\n@@ -1,3 +1,3 @@\n export function priceWithVat(net: number): number {\n-  ${from}\n+  ${to}\n }\n`;

  it('applies each patch to a copy of the solution, runs the tests, and names the test that caught it', async () => {
    write('wrong-catalog/src/price.ts', readFileSync(join(fixturesDir, 'variants/right/price.ts'), 'utf8'));
    patch(
      'no-vat',
      vat(
        'return Math.round(net * 120) / 100;',
        'return Math.round(net * 100) / 100;',
        '# Rounds to the cent but forgets the 20%.\n# The rounding was the hard part, so the rest looked done.\n',
      ),
    );
    patch('harmless', vat('return Math.round(net * 120) / 100;', 'return Math.round(net * 1.2 * 100) / 100;'));
    patch('stale', vat('return net * 7;', 'return net;'));
    patch(
      'throws-at-import',
      vat('return Math.round(net * 120) / 100;', "return net; } throw new Error('boom at import'); function never() {"),
    );
    const wrongs = listWrongAnswers(exercise);
    expect(wrongs.map((w) => w.name)).toEqual(['harmless', 'no-vat', 'stale', 'throws-at-import']);
    expect(wrongs.find((w) => w.name === 'no-vat')?.why).toBe(
      'Rounds to the cent but forgets the 20%. The rounding was the hard part, so the rest looked done.',
    );
    const verdicts = new Map<string, ReturnType<typeof judgeWrong>>();
    for (const wrong of wrongs) {
      let result: RunResult | Error;
      try {
        const applied = applyWrongAnswer(exercise, wrong);
        try {
          result = await runExercise({ exercise, srcDir: applied.srcDir, label: `test-wrong-${wrong.name}` });
        } finally {
          applied.dispose();
        }
      } catch (err) {
        result = err as Error;
      }
      verdicts.set(wrong.name, judgeWrong(wrong, result));
    }
    expect(verdicts.get('no-vat')).toMatchObject({
      ok: true,
      text: 'no-vat: caught by "priceWithVat › adds 20% VAT"',
    });
    expect(verdicts.get('harmless')).toMatchObject({ ok: false });
    expect(verdicts.get('harmless')?.text).toMatch(/PASSES all 3 tests: no test catches it/);
    expect(verdicts.get('stale')?.text).toMatch(/wrong answer stale: it no longer applies to src\/price\.ts/);
    expect(verdicts.get('throws-at-import')?.text).toMatch(/does not run/);
  }, 60_000);
});
