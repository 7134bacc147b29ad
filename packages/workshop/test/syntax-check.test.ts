import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listExercises, REPO_ROOT } from '../src/repo.ts';
import { codeFrame, describeSyntaxProblems, findSyntaxErrors } from '../src/runner/syntax-check.ts';
import { applyWrongAnswer, listWrongAnswers } from '../src/wrong-answers.ts';

const work = mkdtempSync(join(tmpdir(), 'cachelab-syntax-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function src(files: Record<string, string>): string {
  const dir = mkdtempSync(join(work, 'src-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

describe('syntax errors are found in every file of a src/, before any test runs', () => {
  it('never reports one in valid TypeScript: every starter and every solution, every lesson and package', async () => {
    const folders = [
      ...readdirSync(join(REPO_ROOT, 'exercises')).map((n) => join('exercises', n, 'src')),
      ...readdirSync(join(REPO_ROOT, 'solutions'))
        .filter((n) => /^\d{2}-/.test(n))
        .map((n) => join('solutions', n, 'src')),
      ...readdirSync(join(REPO_ROOT, 'lessons')).map((n) => join('lessons', n, 'src')),
      ...readdirSync(join(REPO_ROOT, 'packages')).map((n) => join('packages', n, 'src')),
    ];
    expect(folders.filter((f) => f.startsWith('solutions/')).length).toBeGreaterThanOrEqual(14);
    for (const folder of folders) expect(await findSyntaxErrors(join(REPO_ROOT, folder), folder), folder).toEqual([]);
  });

  it("never reports one in the solutions' wrong answers: they are wrong by behaviour, not by syntax", async () => {
    let checked = 0;
    for (const exercise of listExercises()) {
      for (const wrong of listWrongAnswers(exercise)) {
        let applied: ReturnType<typeof applyWrongAnswer>;
        try {
          applied = applyWrongAnswer(exercise, wrong);
        } catch {
          continue; // a patch that no longer applies is cachelab check's to report
        }
        try {
          expect(await findSyntaxErrors(applied.srcDir, 'src'), `${exercise.name} ${wrong.name}`).toEqual([]);
          checked++;
        } finally {
          applied.dispose();
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('finds an unfinished call in a file nothing imports, with the path a person opens and the place in it', async () => {
    const dir = src({
      'app.ts': "import type { Q } from './payments-query.ts';\nexport const app = (q: Q) => q;\n",
      'payments-query.ts': [
        "import { z } from 'zod';",
        'export interface Q { investor: string }',
        'const schema = z.object({ investor: z.string(',
        '',
      ].join('\n'),
    });
    const problems = await findSyntaxErrors(dir, 'exercises/01-validate-input/src');
    expect(problems).toHaveLength(1);
    const [problem] = problems;
    expect(problem?.file).toBe('exercises/01-validate-input/src/payments-query.ts');
    expect(problem?.line).toBe(4);
    expect(problem?.text).toMatch(/end of file/);
    expect(describeSyntaxProblems(problems)).toMatch(
      /^exercises\/01-validate-input\/src\/payments-query\.ts:4:1: Unexpected end of file \(something opened above it.*is never closed\)\. A syntax error: no test could run\.$/,
    );
  });

  it('points at the column, 1-based, with the line and a caret', async () => {
    const dir = src({ 'a.ts': 'export const a = 1;\nexport const b = a +* 2;\n' });
    const [problem] = await findSyntaxErrors(dir, 'src');
    expect(problem).toMatchObject({ file: 'src/a.ts', line: 2, column: 21, text: 'Unexpected "*"' });
    expect(problem?.frame).toEqual([
      '1 | export const a = 1;',
      '2 | export const b = a +* 2;',
      '  |                     ^',
    ]);
    expect(codeFrame('x', 1, 1)).toEqual(['1 | x', '  | ^']);
  });

  it('reports the first error of each broken file, in folders too, and counts the others', async () => {
    const dir = src({
      'ok.ts': 'export const ok = true;\n',
      'lib/b.ts': 'export function f( {\n',
      'c.mts': 'const x = {\n  a: 1\n\nexport const y = 2;\n',
      'readme.md': '# not code (',
    });
    const problems = await findSyntaxErrors(dir, 'exercises/05-employee-directory-ttl/src');
    expect(problems.map((p) => `${p.file}:${p.line}`)).toEqual([
      'exercises/05-employee-directory-ttl/src/c.mts:4',
      'exercises/05-employee-directory-ttl/src/lib/b.ts:2',
    ]);
    expect(describeSyntaxProblems(problems)).toMatch(
      /And 1 more file with one: exercises\/05-employee-directory-ttl\/src\/lib\/b\.ts:2:1\.$/,
    );
  });

  it('accepts what TypeScript allows and esbuild strips: enums, namespaces, decorators, generics in arrows, top-level await', async () => {
    const dir = src({
      'a.ts': [
        'enum Colour { Red, Green }',
        'namespace N { export const q = 1; }',
        'const id = <T,>(x: T): T => x;',
        'function logged(_t: unknown, _c: ClassMethodDecoratorContext) {}',
        'class A { accessor n = 1; @logged m(): void {} }',
        'export const answer = await Promise.resolve(id(Colour.Green) + N.q + new A().n);',
        'export type { A };',
        'export abstract class B<T extends object = {}> { abstract get(): T | undefined; }',
        '',
      ].join('\n'),
    });
    expect(await findSyntaxErrors(dir, 'src')).toEqual([]);
  });

  // Found by review: esbuild's TypeScript parser backtracks on nested arrow functions (30 KB
  // took minutes, outside the run's timeout, in the grader's own esbuild: the batch hung). A
  // graded src/ is parsed in a process of its own, killed at its deadline.
  it('parses an untrusted src/ in a process of its own: the same findings, and a parse that runs away is given up at its deadline', async () => {
    const dir = src({
      'ok.ts': 'export const ok = true;\n',
      'lib/b.ts': 'export function f( {\n',
      'c.mts': 'const x = {\n  a: 1\n\nexport const y = 2;\n',
    });
    const isolated = { isolated: { deadlineMs: 20_000 } };
    expect(await findSyntaxErrors(dir, 'src', isolated)).toEqual(await findSyntaxErrors(dir, 'src'));
    const slow = src({
      'gen.ts': `export const x = ${'(a) => '.repeat(4300)}1;\n`,
      'broken.ts': 'export const b = a +* 2;\n',
    });
    const started = performance.now();
    expect(await findSyntaxErrors(slow, 'src', { isolated: { deadlineMs: 1500 } })).toEqual([]);
    expect(performance.now() - started).toBeLessThan(5000);
  }, 30_000);
});
