import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeResult } from '../src/result-view.ts';
import { runExercise } from '../src/runner/run-exercise.ts';
import { asyncFixtureExercise, fixtureExercise, fixturesDir } from './fixture-exercise.ts';

const fixtures = fixturesDir;
const exercise = fixtureExercise;
const variant = (name: string) => join(fixtures, 'variants', name);

describe('runExercise, the one grading mechanism', () => {
  it('passes a correct src/ with every test counted', async () => {
    const result = await runExercise({ exercise, srcDir: variant('right'), label: 'test-right' });
    expect(result.status).toBe('pass');
    expect(result.passed).toBe(3);
    expect(result.failed).toBe(0);
    expect(result.tests.map((t) => t.name)).toContain('priceWithVat › adds 20% VAT');
  });

  it("fails a wrong src/ and reports the test's own message without a stack trace", async () => {
    const result = await runExercise({ exercise, srcDir: variant('wrong'), label: 'test-wrong' });
    expect(result.status).toBe('fail');
    expect(result.failed).toBe(2);
    expect(result.passed).toBe(1);
    const vat = result.tests.find((t) => t.name.endsWith('adds 20% VAT'));
    expect(vat?.message).toContain('a price of 100 should cost 120 with VAT');
    expect(vat?.message).toContain('expected 100 to be 120');
    expect(vat?.message).not.toMatch(/\s+at /);
    expect(vat?.message).not.toContain('.cachelab/runs');
  });

  it('kills a run that never ends at the timeout and says so', async () => {
    const started = Date.now();
    const result = await runExercise({ exercise, srcDir: variant('hang'), label: 'test-hang', timeoutMs: 6_000 });
    expect(result.status).toBe('timeout');
    expect(result.message).toMatch(/did not finish within 6 s/);
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 30_000);

  it('reports an error, not a failure, when the code throws as it is imported', async () => {
    const result = await runExercise({ exercise, srcDir: variant('throws'), label: 'test-throws' });
    expect(result.status).toBe('error');
    expect(result.message).toContain('this module explodes when imported');
  });

  it('reports an error when there is no code at all', async () => {
    const result = await runExercise({ exercise, srcDir: variant('does-not-exist'), label: 'test-empty' });
    expect(result.status).toBe('error');
    expect(result.message).toMatch(/missing or empty/);
  });

  it('ignores tests a submission brings: only the pristine test/ runs', async () => {
    // The variant folder has no test/, and even if src/ held a *.test.ts it would not be under test/.
    const result = await runExercise({ exercise, srcDir: variant('right'), label: 'test-pristine' });
    expect(new Set(result.tests.map((t) => t.file))).toEqual(new Set(['test/price.test.ts']));
  });
});

describe('runExercise and errors outside the tests', () => {
  it('fails a run whose tests all pass but whose code leaves an unhandled rejection behind', async () => {
    const result = await runExercise({ exercise, srcDir: variant('unhandled'), label: 'test-unhandled' });
    expect(result.status).toBe('fail');
    const escaped = result.tests.find((t) => t.name.startsWith('no error escapes the tests'));
    expect(escaped?.message).toContain('a background refresh failed and nobody caught it');
  });
});

describe("a learner's runs reuse their folder and vitest's module cache", () => {
  it('reuses one folder per label, gives a concurrent run a folder of its own, and takes over a folder whose owner is gone', async () => {
    const { spawnSync } = await import('node:child_process');
    const { existsSync, mkdirSync, writeFileSync } = await import('node:fs');
    const { prepareWorkspace, RUNS_DIR } = await import('../src/runner/workspace.ts');
    const label = `test-stable-${process.pid}`;
    const stable = join(RUNS_DIR, label, exercise.name);

    const first = prepareWorkspace(exercise, variant('right'), label, { stable: true });
    expect(first.dir, 'the first run takes the folder named by its label').toBe(stable);
    const second = prepareWorkspace(exercise, variant('right'), label, { stable: true });
    expect(second.dir, 'a run while the first is live gets a folder of its own').not.toBe(stable);
    second.dispose();
    first.dispose();
    expect(existsSync(join(RUNS_DIR, label)), 'disposing frees the folder').toBe(false);

    // Left behind by a process that is gone (a learner closed the terminal mid-run).
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    }).stdout;
    mkdirSync(stable, { recursive: true });
    writeFileSync(join(RUNS_DIR, label, '.owner'), dead);
    const third = prepareWorkspace(exercise, variant('right'), label, { stable: true });
    expect(third.dir, "a dead owner's folder is taken over").toBe(stable);
    third.dispose();
  });

  it('passes and fails exactly as a run without the cache does, the second time from the cache', async () => {
    for (const [name, status] of [
      ['right', 'pass'],
      ['wrong', 'fail'],
      ['right', 'pass'],
    ] as const) {
      const result = await runExercise({
        exercise,
        srcDir: variant(name),
        label: `test-cache-${process.pid}`,
        moduleCache: true,
      });
      expect(result.status, `${name}: ${result.message}`).toBe(status);
    }
  }, 60_000);
});

describe('what a run says when the code cannot load, in the paths a person opens', () => {
  const work = mkdtempSync(join(tmpdir(), 'cachelab-run-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  /** A src/ laid out as in a clone or a submission: <root>/exercises/01-fixture/src. */
  const laidOut = (name: string, files: Record<string, string>) => {
    const src = join(work, name, 'exercises', exercise.name, 'src');
    mkdirSync(src, { recursive: true });
    for (const [file, content] of Object.entries(files)) writeFileSync(join(src, file), content);
    return src;
  };
  const right = readFileSync(join(variant('right'), 'price.ts'), 'utf8');
  const unfinished = 'export const rates = { standard: 0.2 };\nexport const schema = Object.freeze({ rate: Number(\n';

  it('reports a syntax error in a file no test imports, before any test runs, with its place and the code', async () => {
    const srcDir = laidOut('syntax', { 'price.ts': right, 'notes.ts': unfinished });
    const started = Date.now();
    const result = await runExercise({ exercise, srcDir, label: 'test-syntax' });
    expect(result.status).toBe('error');
    expect(result.message).toMatch(
      /^exercises\/01-fixture\/src\/notes\.ts:3:1: Unexpected end of file \(something opened above it, a bracket, a brace or a string, is never closed\)\. A syntax error: no test could run\.$/,
    );
    expect(result.detail).toEqual(['2 | export const schema = Object.freeze({ rate: Number(', '3 |', '  | ^']);
    expect(result.tests).toEqual([]);
    expect(Date.now() - started, 'found without starting vitest').toBeLessThan(5_000);
  });

  it('reports it in a graded run too, as an error, with the path in the submission', async () => {
    const srcDir = laidOut('syntax-graded', { 'price.ts': `${right}\nexport const broken = [1, 2;\n` });
    const result = await runExercise({
      exercise,
      srcDir,
      label: 'test-syntax-graded',
      manifest: { tests: [] },
      tripwires: 2,
    });
    expect(result.status).toBe('error');
    expect(result.message).toMatch(/^exercises\/01-fixture\/src\/price\.ts:5:28: Expected "]" but found ";"/);
  });

  it('names the file and line of the learner code that threw while a test file imported it', async () => {
    const result = await runExercise({ exercise, srcDir: variant('crash-on-import'), label: 'test-crash' });
    expect(result.status).toBe('error');
    expect(result.message).toMatch(
      /^No test could run: packages\/workshop\/fixtures\/variants\/crash-on-import\/rates\.ts:4:\d+: Cannot read properties of undefined \(reading 'vat'\) \(thrown as test\/price\.test\.ts imported it\)$/,
    );
    expect(result.output).not.toContain('.cachelab/runs');
  });

  it("says a package is not installed (not that it cannot be found), in the path of the learner's file", async () => {
    const srcDir = laidOut('missing-package', {
      'price.ts': readFileSync(join(variant('missing-package'), 'price.ts'), 'utf8'),
    });
    const result = await runExercise({ exercise, srcDir, label: 'test-zodd' });
    expect(result.status).toBe('error');
    expect(result.message).toBe(
      "No test could run: test/price.test.ts: There is no package 'zodd' (imported from exercises/01-fixture/src/price.ts): it is not installed.",
    );
    expect(result.message + result.output).not.toContain('.cachelab/runs');
  });

  it('says which subpath an installed package lacks, the nearest one it exports, and what it exports', async () => {
    const result = await runExercise({ exercise, srcDir: variant('missing-subpath'), label: 'test-subpath' });
    expect(result.status).toBe('error');
    expect(result.message).toContain(
      "'@cachelab/lesson-01-uncached/problems' cannot be imported (imported from packages/workshop/fixtures/variants/missing-subpath/price.ts): the package @cachelab/lesson-01-uncached is installed, but it has no subpath './problems'. Did you mean '@cachelab/lesson-01-uncached/problem'?",
    );
    expect(result.message).toMatch(
      /It exports: @cachelab\/lesson-01-uncached, @cachelab\/lesson-01-uncached\/app, .*@cachelab\/lesson-01-uncached\/queries/,
    );
    expect(result.message).not.toMatch(/Cannot find package/);
  });
});

describe('a run that hangs says which checks passed, failed, and which one was running', () => {
  const greet = asyncFixtureExercise;
  const manifest = {
    tests: ['Ada', 'Grace', 'Edsger', 'Barbara'].map((n) => ({
      file: 'test/greet.test.ts',
      name: `greet › greets ${n}`,
    })),
  };

  it('stops once two checks in a row have hung until their time limit, and lists what ran', async () => {
    const result = await runExercise({ exercise: greet, srcDir: variant('greet-hangs-after-ada'), label: 'test-hung' });
    expect(result.status).toBe('timeout');
    expect(result.message).toBe(
      'Stopped early: 2 checks in a row hung until the 2 s test timeout, and the ones after them would most likely hang too. 1 check passed, 2 failed (2 on the 2 s test timeout), 1 never ran. Look for a promise that never settles, an endless loop, or a connection that is never closed.',
    );
    expect(result.tests.map((t) => [t.name, t.status])).toEqual([
      ['greet › greets Ada', 'pass'],
      ['greet › greets Grace', 'fail'],
      ['greet › greets Edsger', 'fail'],
    ]);
    expect(result.tests[1]?.message).toMatch(/^The check was still waiting after 2 s, its time limit/);
    expect(result.notRun).toBe(1);
    expect([result.passed, result.failed], 'counted out of all 4: the one that never ran failed too').toEqual([1, 3]);
  });

  it('never stops a graded run early: there, the checks after a hang may still earn credit', async () => {
    const result = await runExercise({
      exercise: greet,
      srcDir: variant('greet-hangs-after-ada'),
      label: 'test-hung-graded',
      manifest,
    });
    expect(result.status, result.message).toBe('fail');
    expect(result.passed).toBe(1);
    expect(result.failed).toBe(3);
  });

  it("names the check that was running when the run's timeout stopped it, and for how long it had run", async () => {
    const result = await runExercise({
      exercise: greet,
      srcDir: variant('greet-stuck-on-grace'),
      label: 'test-stuck',
      timeoutMs: 30_000,
    });
    expect(result.status).toBe('timeout');
    expect(result.message).toMatch(
      /^The tests did not finish within 30 s and were stopped while running: greet › greets Grace \(running for \d+ s\)\. 1 check passed, 0 failed, 2 never ran\. Look for/,
    );
    const running = result.tests.find((t) => t.stoppedAfterMs !== undefined);
    expect(running?.name).toBe('greet › greets Grace');
    expect(running?.status).toBe('error');
    expect(running?.message).toMatch(/^stopped while running \(running for \d+ s\)$/);
    expect(result.tests.find((t) => t.name === 'greet › greets Ada')?.status).toBe('pass');

    const view = describeResult(result, { srcDir: null }).join('\n');
    expect(view).toMatch(/^✗ 01 fixture-async: The tests did not finish within 30 s/);
    expect(view.indexOf('✗ greet › greets Grace'), 'the running check first').toBeGreaterThan(0);
    expect(view).toMatch(/stopped while running \(running for \d+ s\)/);
    expect(view).toContain('✓ greet › greets Ada');
    expect(view).toContain('… 2 more never ran: the run was stopped first');
  }, 60_000);

  it('names the check most likely running when an endless loop kept even its start from being reported', async () => {
    const result = await runExercise({ exercise, srcDir: variant('hang'), label: 'test-loop', timeoutMs: 25_000 });
    expect(result.status).toBe('timeout');
    expect(result.message).toMatch(
      /^The tests did not finish within 25 s and were stopped while running, most likely: priceWithVat › adds 20% VAT \(for about \d+ s; its start was not even reported: code that never awaits, like an endless loop, blocks the test process\)\. 0 checks passed, 0 failed, 2 never ran\./,
    );
    expect(result.tests.map((t) => [t.name, t.status])).toEqual([['priceWithVat › adds 20% VAT', 'error']]);
    expect(result.notRun).toBe(2);
  }, 60_000);

  it('passes the right answer with every check counted (the fixture itself is sound)', async () => {
    const result = await runExercise({ exercise: greet, srcDir: variant('greet-right'), label: 'test-greet' });
    expect(result.status, result.message).toBe('pass');
    expect(result.passed).toBe(4);
  });
});
