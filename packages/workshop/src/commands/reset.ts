import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { resolveExercise } from '../choose.ts';
import { learnerSrc } from '../learner.ts';
import { c, ok, UserError } from '../output.ts';
import { loadProgress, updateProgress } from '../progress.ts';
import { type Exercise, REPO_ROOT, STATE_DIR } from '../repo.ts';
import { listFiles } from '../runner/workspace.ts';
import { confirmOrRefuse } from '../terminal.ts';

/**
 * `cachelab reset NN`: put the starter back, the way rustlings' reset does, but never
 * silently: say which files change, keep the learner's version in
 * `.cachelab/backups/<NN>-<time>/`, and ask first.
 *
 * The starter comes from git (`git show HEAD:exercises/NN-slug/src/<file>`): the committed
 * exercise is the pristine one, whatever the working tree holds now.
 */
export interface ResetPlan {
  exercise: Exercise;
  /** The learner's src/ that will be restored. */
  srcDir: string;
  /** Starter files by path relative to src/. */
  starter: Map<string, Buffer>;
  /** Differ from the starter: the learner's version is replaced. */
  changed: string[];
  /** Not in the starter: removed. */
  extra: string[];
  /** In the starter but gone: put back. */
  missing: string[];
}

function git(args: string[]): { ok: boolean; stdout: Buffer; stderr: string } {
  const r = spawnSync('git', args, { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new UserError(`Resetting needs git, and git could not run: ${r.error.message}.`);
  return { ok: r.status === 0, stdout: r.stdout, stderr: r.stderr.toString().trim() };
}

/** The starter's files as committed in HEAD. */
export function starterFiles(exercise: Exercise): Map<string, Buffer> {
  const folder = `${relative(REPO_ROOT, exercise.dir)}/src`;
  const listed = git(['ls-tree', '-r', '-z', '--name-only', 'HEAD', '--', `${folder}/`]);
  if (!listed.ok) throw new UserError(`Could not read the starter of ${exercise.id} from git: ${listed.stderr}`);
  const paths = listed.stdout.toString('utf8').split('\0').filter(Boolean);
  if (paths.length === 0)
    throw new UserError(`git has no committed starter for ${exercise.id} (nothing under ${folder}/ in HEAD).`);
  const files = new Map<string, Buffer>();
  for (const path of paths) {
    const shown = git(['show', `HEAD:${path}`]);
    if (!shown.ok) throw new UserError(`Could not read ${path} from git: ${shown.stderr}`);
    files.set(path.slice(folder.length + 1), shown.stdout);
  }
  return files;
}

export function planReset(exercise: Exercise): ResetPlan {
  const srcDir = learnerSrc(exercise);
  const starter = starterFiles(exercise);
  const current = listFiles(srcDir);
  const changed = current.filter(
    (f) => starter.has(f) && !readFileSync(join(srcDir, f)).equals(starter.get(f) as Buffer),
  );
  const extra = current.filter((f) => !starter.has(f));
  const missing = [...starter.keys()].filter((f) => !current.includes(f));
  return { exercise, srcDir, starter, changed, extra, missing };
}

export function isPristine(plan: ResetPlan): boolean {
  return plan.changed.length + plan.extra.length + plan.missing.length === 0;
}

/** What a reset will do, one line per file, for the question and the refusal. */
export function describePlan(plan: ResetPlan): string[] {
  const where = (f: string) => relative(process.cwd(), join(plan.srcDir, f)) || f;
  return [
    ...plan.changed.map((f) => `  ${c.yellow('replaced')}  ${where(f)}  ${c.dim('(your changes go to the backup)')}`),
    ...plan.extra.map(
      (f) => `  ${c.red('removed ')}  ${where(f)}  ${c.dim('(not in the starter; kept in the backup)')}`,
    ),
    ...plan.missing.map((f) => `  ${c.green('restored')}  ${where(f)}`),
  ];
}

/** Back up the learner's src/, then write the starter over it. Returns the backup folder. */
export function applyReset(plan: ResetPlan, now: Date = new Date()): string | null {
  let backup: string | null = null;
  if (existsSync(plan.srcDir) && listFiles(plan.srcDir).length > 0) {
    const stamp = now.toISOString().replace(/\..*$/, '').replace(/:/g, '-');
    backup = join(STATE_DIR, 'backups', `${plan.exercise.id}-${stamp}`);
    for (let n = 2; existsSync(backup); n++) backup = join(STATE_DIR, 'backups', `${plan.exercise.id}-${stamp}-${n}`);
    mkdirSync(dirname(backup), { recursive: true });
    cpSync(plan.srcDir, backup, { recursive: true });
  }
  for (const f of plan.extra) rmSync(join(plan.srcDir, f), { force: true });
  for (const [f, content] of plan.starter) {
    mkdirSync(dirname(join(plan.srcDir, f)), { recursive: true });
    writeFileSync(join(plan.srcDir, f), content);
  }
  // The code is the starter again: it is not solved any more (hints seen stay seen).
  updateProgress((p) => {
    delete p.solved[plan.exercise.id];
    delete p.stretch[plan.exercise.id];
  });
  return backup;
}

export async function reset(query: string, options: { yes?: boolean } = {}): Promise<number> {
  const exercise = resolveExercise(query);
  const plan = planReset(exercise);
  const name = `${exercise.id} ${exercise.slug}`;
  if (isPristine(plan)) {
    ok(`${name} is already the starter: nothing to reset.`);
    return 0;
  }
  const backups = relative(process.cwd(), join(STATE_DIR, 'backups')) || join(STATE_DIR, 'backups');
  const solvedAt = loadProgress().solved[exercise.id];
  console.log(`Resetting ${name} puts its starter code back:`);
  for (const line of describePlan(plan)) console.log(line);
  // The starter is not a solution: a reset takes the ✓ away too. Say so before, not after.
  if (solvedAt)
    console.log(
      `  ${c.yellow('un-solved')} ${name} ${c.dim(`(solved on ${solvedAt.slice(0, 10)}; \`npx cachelab verify ${exercise.id}\` marks it again)`)}`,
    );
  const yes = await confirmOrRefuse(`Reset ${name}? A copy of your src/ is kept in ${backups}/.`, {
    ...(options.yes === undefined ? {} : { yes: options.yes }),
    refusal: `Not reset: nobody is here to confirm. Run \`npx cachelab reset ${exercise.id} --yes\` to do it (your version is kept in ${backups}/).`,
  });
  if (!yes) {
    console.log('Nothing changed.');
    return 0;
  }
  const backup = applyReset(plan);
  ok(`${name} is back to its starter.${backup ? ` Your version: ${relative(process.cwd(), backup) || backup}` : ''}`);
  if (solvedAt) console.log(`  It is no longer marked solved; \`npx cachelab verify ${exercise.id}\` marks it again.`);
  return 0;
}
