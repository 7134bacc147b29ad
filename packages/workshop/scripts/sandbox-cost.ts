/**
 * What the sandbox costs a class: the same generated class graded twice in one run, with the
 * sandbox and without it (CACHELAB_SANDBOX=off), alternating so that the machine's drift
 * falls on both. Prints wall times, per-run means and the ratio.
 *
 *   npx tsx packages/workshop/scripts/sandbox-cost.ts [--students 30] [--exercises 01,03,05] [--rounds 1]
 *
 * Half the students hand in the reference solutions, half the untouched starters.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gradeSubmissions } from '../src/grade/grade.ts';
import { listExercises } from '../src/repo.ts';

const { values } = parseArgs({
  options: {
    students: { type: 'string', default: '30' },
    exercises: { type: 'string', default: '01,03,05' },
    rounds: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '2' },
  },
});
const students = Number(values.students);
const only = values.exercises.split(',');
const exercises = listExercises().filter((e) => only.includes(e.id));
const work = mkdtempSync(join(tmpdir(), 'cachelab-sandbox-cost-'));
const sources: string[] = [];
for (let i = 0; i < students; i++) {
  const dir = join(work, 'class', `student-${String(i + 1).padStart(2, '0')}`);
  for (const e of exercises) {
    const from = i % 2 === 0 ? join(e.solutionDir, 'src') : join(e.dir, 'src');
    mkdirSync(join(dir, 'exercises', e.name), { recursive: true });
    cpSync(from, join(dir, 'exercises', e.name, 'src'), { recursive: true });
  }
  sources.push(dir);
}

const times: Record<'sandbox' | 'none', number[]> = { sandbox: [], none: [] };
// The tests are pinned (one starter run per exercise) once, before the timed batches.
const out = join(work, 'grades');
process.env.CACHELAB_SANDBOX = 'off';
await gradeSubmissions({ sources: sources.slice(0, 1), exercises: only, out, concurrency: Number(values.concurrency) });
for (let round = 0; round < Number(values.rounds); round++) {
  for (const mode of round % 2 === 0 ? (['none', 'sandbox'] as const) : (['sandbox', 'none'] as const)) {
    if (mode === 'none') process.env.CACHELAB_SANDBOX = 'off';
    else delete process.env.CACHELAB_SANDBOX;
    const outcome = await gradeSubmissions({ sources, exercises: only, out, concurrency: Number(values.concurrency) });
    if (outcome.manifest.sandbox?.sandboxed !== (mode === 'sandbox'))
      throw new Error(`expected sandboxed=${mode === 'sandbox'}, got ${JSON.stringify(outcome.manifest.sandbox)}`);
    times[mode].push(outcome.wallMs);
    console.log(
      `round ${round + 1} ${mode.padEnd(7)} ${(outcome.wallMs / 1000).toFixed(1)} s for ${outcome.graded} runs`,
    );
  }
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const runs = students * exercises.length;
console.log(
  `\n${students} students × ${exercises.length} exercises (${runs} runs), concurrency ${values.concurrency}:`,
  `\n  without sandbox ${(mean(times.none) / 1000).toFixed(1)} s (${(mean(times.none) / runs).toFixed(0)} ms a run)`,
  `\n  with sandbox    ${(mean(times.sandbox) / 1000).toFixed(1)} s (${(mean(times.sandbox) / runs).toFixed(0)} ms a run)`,
  `\n  ratio           ${(mean(times.sandbox) / mean(times.none)).toFixed(3)}×`,
);
rmSync(work, { recursive: true, force: true });
