import { appendFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/repo.ts';
import { cachelab, createLearner } from './learner-kit.ts';

/**
 * What `verify` tells a learner whose code cannot run at all, in a copy of the exercises
 * (learner-kit.ts): every place named as the learner opens it (exercises/NN-slug/src/…),
 * never the run's copy under .cachelab/runs.
 */
const learner = createLearner('errors');
afterAll(() => learner.dispose());
const run = (args: string[]) => cachelab(args, learner.env, 240_000);

const ONE = '01-validate-input';
const src = (file: string) => join(learner.src(ONE), file);
beforeEach(() => learner.checkout(ONE));

function expectNoRunPaths(out: string): void {
  // (The learner's own copy lives under .cachelab/ in these tests; the run's copy under .cachelab/runs.)
  expect(out).not.toContain('.cachelab/runs');
  expect(out).not.toMatch(/\n\s+at /);
}

describe('verify, when the code cannot run', { timeout: 240_000 }, () => {
  it('shows a syntax error in a file app.ts does not import yet, instead of the starter’s failures', async () => {
    // The starter's app.ts has only `import type` from payments-query.ts: no test loads it.
    appendFileSync(
      src('payments-query.ts'),
      "\nimport { z } from 'zod';\nconst schema = z.object({ investor: z.string(\n",
    );
    const lines = readFileSync(src('payments-query.ts'), 'utf8').split('\n').length;
    const { code, out } = await run(['verify', '01']);
    expect(code, out).toBe(1);
    expect(out).toContain(
      `✗ 01 validate-input: exercises/${ONE}/src/payments-query.ts:${lines}:1: Unexpected end of file (something opened above it, a bracket, a brace or a string, is never closed). A syntax error: no test could run.`,
    );
    expect(out).toMatch(/\| const schema = z\.object\(\{ investor: z\.string\(\n/);
    expect(out).toMatch(/\n\s+\| \^/);
    expect(out).not.toMatch(/checks failed/);
    expectNoRunPaths(out);
  });

  it('names the line of its code that threw while the tests imported it', async () => {
    cpSync(join(REPO_ROOT, 'solutions', ONE, 'src', 'app.ts'), src('app.ts'));
    appendFileSync(src('payments-query.ts'), '\nexport const shape = (globalThis as any).nothing.schema;\n');
    const line = readFileSync(src('payments-query.ts'), 'utf8').split('\n').length - 1;
    const { code, out } = await run(['verify', '01']);
    expect(code, out).toBe(1);
    expect(out).toMatch(
      new RegExp(
        `✗ 01 validate-input: No test could run: exercises/${ONE}/src/payments-query\\.ts:${line}:\\d+: Cannot read properties of undefined \\(reading 'schema'\\) \\(thrown as test/payments\\.test\\.ts imported it\\)`,
      ),
    );
    expectNoRunPaths(out);
  });

  it('says a misspelt package is not installed, and which of the exercise’s dependencies it meant', async () => {
    cpSync(join(REPO_ROOT, 'solutions', ONE, 'src', 'app.ts'), src('app.ts'));
    const query = readFileSync(src('payments-query.ts'), 'utf8');
    writeFileSync(src('payments-query.ts'), `import { z } from 'zodd';\nexport const zod = z;\n${query}`);
    const { code, out } = await run(['verify', '01']);
    expect(code, out).toBe(1);
    expect(out).toContain(
      `No test could run: test/payments.test.ts: There is no package 'zodd' (imported from exercises/${ONE}/src/payments-query.ts): it is not installed. Did you mean 'zod'?`,
    );
    expectNoRunPaths(out);
  });

  it('says which subpath of an installed package is missing, and what it exports', async () => {
    const app = readFileSync(src('app.ts'), 'utf8');
    writeFileSync(
      src('app.ts'),
      app.replace("'@cachelab/lesson-01-uncached/problem'", "'@cachelab/lesson-01-uncached/problems'"),
    );
    const { code, out } = await run(['verify', '01']);
    expect(code, out).toBe(1);
    expect(out).toContain(
      `'@cachelab/lesson-01-uncached/problems' cannot be imported (imported from exercises/${ONE}/src/app.ts): the package @cachelab/lesson-01-uncached is installed, but it has no subpath './problems'. Did you mean '@cachelab/lesson-01-uncached/problem'? It exports: @cachelab/lesson-01-uncached, `,
    );
    expect(out).not.toContain('Cannot find package');
    expectNoRunPaths(out);
  });
});

describe('verify, when the code hangs', { timeout: 240_000 }, () => {
  const THREE = '03-redis-cache-aside';
  it('stops after two checks in a row hung for their 20 s, and names the checks that passed, failed and never ran', async () => {
    learner.checkout(THREE);
    cpSync(join(REPO_ROOT, 'solutions', THREE, 'src'), learner.src(THREE), { recursive: true });
    const file = join(learner.src(THREE), 'cache-aside.ts');
    const solution = readFileSync(file, 'utf8');
    const hanging = solution.replace(
      /(export async function cacheAside\([\s\S]*?\): Promise<\w+> \{\n)/,
      '$1  await new Promise(() => {});\n',
    );
    expect(hanging, 'the hang is in place').not.toBe(solution);
    writeFileSync(file, hanging);
    const started = Date.now();
    const { code, out } = await run(['verify', '03']);
    expect(code, out).toBe(1);
    expect(out).toMatch(
      /✗ 03 redis-cache-aside: Stopped early: 2 checks in a row hung until the 20 s test timeout, and the ones after them would most likely hang too\. 0 checks passed, 2 failed \(2 on the 20 s test timeout\), 9 never ran\./,
    );
    expect(out).toMatch(/✗ cache-aside › serves .* from Redis the second time/);
    expect(out).toContain('The check was still waiting after 20 s, its time limit');
    expect(out).toContain('… 9 more never ran: the run was stopped first');
    expect(Date.now() - started, 'well before the run’s own 90 s').toBeLessThan(85_000);
    expectNoRunPaths(out);
  });
});
