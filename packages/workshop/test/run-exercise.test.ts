import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runExercise } from '../src/runner/run-exercise.ts';
import { fixtureExercise, fixturesDir } from './fixture-exercise.ts';

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
  });
});
