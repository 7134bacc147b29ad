import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { resolveExercise } from '../choose.ts';
import { learnerSrc } from '../learner.ts';
import { c, ok, UserError } from '../output.ts';
import { loadProgress } from '../progress.ts';
import { REPO_ROOT } from '../repo.ts';
import { colourWanted, confirmOrRefuse, page } from '../terminal.ts';

/** A path as the learner would type it: relative to the repository when inside it. */
function shown(path: string): string {
  const r = relative(REPO_ROOT, path);
  return r && !r.startsWith('..') ? r : path;
}

/**
 * `cachelab diff NN`: the learner's src/ against the reference solution's, as a unified
 * diff (`git diff --no-index`: the diff everyone already reads, coloured on a terminal,
 * with a summary of the files first). Since it shows the answer, it waits until the
 * exercise has passed, or asks first (--yes skips the question).
 */
export async function diff(query: string, options: { yes?: boolean } = {}): Promise<number> {
  const exercise = resolveExercise(query);
  const mine = learnerSrc(exercise);
  const reference = join(exercise.solutionDir, 'src');
  if (!existsSync(reference)) throw new UserError(`Exercise ${exercise.id} has no reference solution yet.`);
  if (!existsSync(mine))
    throw new UserError(
      `There is no ${shown(mine)} to compare. Put the starter back with \`npx cachelab reset ${exercise.id}\`.`,
    );
  if (!loadProgress().solved[exercise.id]) {
    const yes = await confirmOrRefuse(
      `You have not passed ${exercise.id} yet, and the diff shows the answer. See it anyway?`,
      {
        ...(options.yes === undefined ? {} : { yes: options.yes }),
        refusal: `You have not passed ${exercise.id} yet, and the diff shows the answer. Try \`npx cachelab hint ${exercise.id}\` first, or add --yes to see it anyway.`,
      },
    );
    if (!yes) {
      console.log(`Not shown. \`npx cachelab hint ${exercise.id}\` gives the next hint instead.`);
      return 0;
    }
  }
  const r = spawnSync(
    'git',
    [
      'diff',
      '--no-index',
      '--patch-with-stat',
      `--color=${colourWanted() ? 'always' : 'never'}`,
      '--',
      shown(mine),
      shown(reference),
    ],
    { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
  );
  if (r.error) throw new UserError(`The diff needs git, and git could not run: ${r.error.message}.`);
  // --no-index: 0 = the same, 1 = they differ, anything else = git failed.
  if (r.status === 0) {
    ok(`Your ${shown(mine)} is the same as ${shown(reference)}.`);
    return 0;
  }
  if (r.status !== 1) throw new UserError(`git diff failed: ${r.stderr.trim()}`);
  const header = [
    c.bold(`Your code (${c.red('-')}) against the reference solution (${c.green('+')}):`),
    `  ${c.red('-')} ${shown(mine)}`,
    `  ${c.green('+')} ${shown(reference)}`,
    c.dim(`  Why this answer: ${shown(join(exercise.solutionDir, 'README.md'))}`),
    '',
  ].join('\n');
  await page(`${header}\n${r.stdout}`);
  return 0;
}
