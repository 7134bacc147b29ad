import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { learnerRanges, scoreReport, updateTable } from '../src/mutation.ts';
import { REPO_ROOT } from '../src/repo.ts';

const root = join(REPO_ROOT, '.cachelab', `test-mutation-${process.pid}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

describe('npm run mutation: what it mutates', () => {
  it('mutates only the lines where the solution differs from the starter, file by file', () => {
    write('starter/app.ts', 'import x from "x";\n\nexport function f() {\n  // TODO: cache it\n  return load();\n}\n');
    write(
      'solution/app.ts',
      'import x from "x";\n\nexport function f() {\n  const hit = cache.get(k);\n  if (hit) return hit;\n  return load();\n}\n',
    );
    write('starter/same.ts', 'export const a = 1;\n');
    write('solution/same.ts', 'export const a = 1;\n');
    write('starter/only-removed.ts', 'export const a = 1;\n// TODO: remove me\n');
    write('solution/only-removed.ts', 'export const a = 1;\n');
    write('starter/notes.md', 'x\n');
    write('solution/notes.md', 'y\n');
    // The TODO line (4) became two lines (4-5); the scaffolding around it is not the learner's.
    expect(learnerRanges(join(root, 'starter'), join(root, 'solution'))).toEqual(['src/app.ts:4-5']);
  });

  it('mutates a whole file the starter does not have', () => {
    write('starter2/a.ts', '');
    write('solution2/a.ts', '');
    write('solution2/extra.ts', 'export const b = 2;\nexport const c = 3;\n');
    expect(learnerRanges(join(root, 'starter2'), join(root, 'solution2'))).toEqual(['src/extra.ts:1-2']);
  });
});

describe('npm run mutation: the score', () => {
  const mutant = (status: string, line = 1) => ({
    mutatorName: 'StringLiteral',
    replacement: '""',
    status,
    location: { start: { line, column: 1 } },
  });

  it('counts timeouts as killed, leaves equivalent (ignored) and broken mutants out, and lists survivors', () => {
    const score = scoreReport(
      '03',
      {
        files: {
          '/tmp/x/src/app.ts': {
            mutants: [
              ...Array.from({ length: 7 }, () => mutant('Killed')),
              mutant('Timeout'),
              mutant('Survived', 12),
              mutant('NoCoverage', 20),
              mutant('Ignored'),
              mutant('CompileError'),
            ],
          },
        },
      },
      42,
    );
    expect(score).toMatchObject({ mutants: 12, killed: 7, timeout: 1, survived: 1, noCoverage: 1, equivalent: 1 });
    expect(score.errors).toBe(1);
    expect(score.score).toBe(80);
    expect(score.survivors.map((s) => `${s.file}:${s.line}`)).toEqual(['src/app.ts:12', 'src/app.ts:20']);
  });
});

describe('npm run mutation: the table in solutions/README.md', () => {
  const row = (exercise: string, score: string) => ({
    exercise,
    mutants: 10,
    killed: 9,
    survived: 1,
    equivalent: 0,
    score,
    time: '60 s',
    date: '2026-12-07',
    commit: 'abc1234',
  });

  it('replaces the rows of the exercises it ran and keeps the others, in order', () => {
    const readme = '# Solutions\n\n<!-- mutation-table:start -->\n<!-- mutation-table:end -->\n\nAfter.\n';
    const first = updateTable(readme, [row('02-b', '90.0%'), row('01-a', '80.0%')]);
    const second = updateTable(first, [row('02-b', '95.0%')]);
    const lines = second.split('\n').filter((l) => /^\| \d{2}-/.test(l));
    expect(lines).toEqual([
      '| 01-a | 10 | 9 | 1 | 0 | 80.0% | 60 s | 2026-12-07 | abc1234 |',
      '| 02-b | 10 | 9 | 1 | 0 | 95.0% | 60 s | 2026-12-07 | abc1234 |',
    ]);
    expect(second).toMatch(/^# Solutions\n/);
    expect(second).toMatch(/<!-- mutation-table:end -->\n\nAfter\.\n$/);
  });

  it('refuses a README without the table block, saying what is missing', () => {
    expect(() => updateTable('# Solutions\n', [row('01-a', '1%')])).toThrow(/mutation-table:start/);
  });
});
