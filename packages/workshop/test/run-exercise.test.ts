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
