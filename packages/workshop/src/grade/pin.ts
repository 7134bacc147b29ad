import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Exercise } from '../repo.ts';
import { runExercise } from '../runner/run-exercise.ts';
import { writeJson } from './store.ts';
import type { PinnedTests } from './types.ts';

/**
 * What the pinned tests of an exercise define, learned by running them once on the shipped
 * starter, before any submission:
 *  - `tests`, the manifest: every test by file and name. A graded run must report exactly
 *    these (integrity.ts): a skipped, missing or extra test makes it untrustworthy;
 *  - `given`, the tests the starter already passes: they carry no points, since passing them
 *    says nothing about what the student did.
 * If a test file does not even load on the starter, the manifest comes from the reference
 * solution instead (and nothing of that file is given).
 *
 * Kept in `<out>/.pinned-tests/<name>.json` with the fingerprint of the tests it describes,
 * so that --resume and later batches on the same tests do not run it again.
 */

export const PINNED_TESTS_DIR = '.pinned-tests';

/** The runner's own code: a pin made by another version of it is made again. */
const RUNNER_DIR = fileURLToPath(new URL('../runner/', import.meta.url));
let runnerDigest: string | undefined;
function runnerVersion(): string {
  if (!runnerDigest) {
    const hash = createHash('sha256');
    for (const file of readdirSync(RUNNER_DIR).sort()) hash.update(file).update(readFileSync(join(RUNNER_DIR, file)));
    runnerDigest = hash.digest('hex').slice(0, 16);
  }
  return runnerDigest;
}

interface Stored extends PinnedTests {
  fingerprint: string;
}

export async function pinTests(
  pinned: Exercise,
  original: Exercise,
  fingerprint: string,
  out: string,
  signal?: AbortSignal,
): Promise<PinnedTests> {
  const path = join(out, PINNED_TESTS_DIR, `${pinned.name}.json`);
  if (existsSync(path)) {
    try {
      const stored = JSON.parse(readFileSync(path, 'utf8')) as Stored;
      if (stored.fingerprint === `${fingerprint}:${runnerVersion()}` && Array.isArray(stored.tests)) return stored;
    } catch {
      // damaged: collect again
    }
  }
  const starter = await runExercise({
    exercise: pinned,
    srcDir: join(original.dir, 'src'),
    label: `pin-starter-${pinned.id}`,
    ...(signal ? { signal } : {}),
  });
  const loaded = (file: string) => starter.tests.some((t) => t.file === file && t.name !== 'the test file loads');
  const broken = starter.tests.filter((t) => t.name === 'the test file loads').map((t) => t.file);
  let tests = starter.tests.filter((t) => t.file.startsWith('test/') && loaded(t.file));
  const given = tests.filter((t) => t.status === 'pass').map((t) => `${t.file}::${t.name}`);
  if ((broken.length > 0 || starter.status === 'error') && existsSync(original.solutionDir)) {
    const solution = await runExercise({
      exercise: pinned,
      srcDir: join(original.solutionDir, 'src'),
      label: `pin-solution-${pinned.id}`,
      ...(signal ? { signal } : {}),
    });
    tests = [...tests, ...solution.tests.filter((t) => t.file.startsWith('test/') && !loaded(t.file))];
  }
  if (tests.length === 0)
    throw new Error(
      `Could not list the tests of ${pinned.name}: neither its starter nor its solution ran them (${starter.message})`,
    );
  const result: Stored = {
    fingerprint: `${fingerprint}:${runnerVersion()}`,
    tests: tests.map((t) => ({ file: t.file, name: t.name })),
    given,
  };
  writeJson(path, result);
  return result;
}
