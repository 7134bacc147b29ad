/**
 * Mutation testing of every solution's learner part (src/mutation.ts says what and why).
 *
 *   npm run mutation -- [NN…] [--concurrency 2] [--no-table]
 *
 * Runs exercise after exercise, prints each one's survivors (file:line, mutator, the
 * replacement), and writes the measured scores into the table of solutions/README.md.
 * Exits 1 when an exercise scores under 90%.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requireServices } from '../src/commands/doctor.ts';
import { type MutationScore, mutate, type TableRow, updateTable } from '../src/mutation.ts';
import { c, fail, ok } from '../src/output.ts';
import { listExercises, REPO_ROOT } from '../src/repo.ts';

const TARGET = 90;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    concurrency: { type: 'string', default: '2' },
    'no-table': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});
const wanted = new Set(positionals.map((p) => p.padStart(2, '0')));
const exercises = listExercises().filter((e) => wanted.size === 0 || wanted.has(e.id) || wanted.has(e.name));
if (exercises.length === 0) {
  fail(`no exercise matches ${positionals.join(' ')}`);
  process.exit(2);
}
await requireServices();

const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
let commit = 'unknown';
try {
  commit = git('rev-parse', '--short', 'HEAD');
  if (git('status', '--porcelain', '--', 'exercises', 'solutions')) commit += ' + changes';
} catch {}
const date = new Date().toISOString().slice(0, 10);

const scores: MutationScore[] = [];
let below = false;
for (const exercise of exercises) {
  console.log(c.bold(`\n${exercise.id} ${exercise.slug}: mutating the solution's learner lines…`));
  let score: MutationScore;
  try {
    score = await mutate(exercise, {
      concurrency: Number(values.concurrency),
      log: values.verbose ? (line) => console.log(c.dim(`  ${line}`)) : undefined,
    });
  } catch (err) {
    fail((err as Error).message);
    below = true;
    continue;
  }
  scores.push(score);
  const line = `${exercise.id}: ${score.score.toFixed(1)}% (${score.killed + score.timeout} of ${score.mutants - score.equivalent - score.errors} killed, ${score.equivalent} equivalent, ${score.errors} not runnable) in ${score.seconds.toFixed(0)} s`;
  if (score.score >= TARGET) ok(line);
  else {
    below = true;
    fail(`${line}: under ${TARGET}%`);
  }
  for (const s of score.survivors)
    console.log(c.yellow(`    survived  ${s.file}:${s.line}  ${s.mutator}  → ${s.replacement}`));
}

if (!values['no-table'] && scores.length > 0) {
  const readme = join(REPO_ROOT, 'solutions', 'README.md');
  const rows: TableRow[] = scores.map((s) => ({
    exercise: listExercises().find((e) => e.id === s.exercise)?.name ?? s.exercise,
    mutants: s.mutants - s.errors,
    killed: s.killed + s.timeout,
    survived: s.survived + s.noCoverage,
    equivalent: s.equivalent,
    score: `${s.score.toFixed(1)}%`,
    time: `${Math.round(s.seconds)} s`,
    date,
    commit,
  }));
  writeFileSync(readme, updateTable(readFileSync(readme, 'utf8'), rows));
  console.log(c.dim(`\nThe table in solutions/README.md now holds these figures (${date}, ${commit}).`));
}
process.exit(below ? 1 : 0);
