import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { structuredPatch } from 'diff';
import type { Exercise } from './repo.ts';
import { REPO_ROOT } from './repo.ts';
import { listFiles, prepareWorkspace } from './runner/workspace.ts';

/**
 * Mutation testing of the code learners write (`npm run mutation -- [NN…]`).
 *
 * The wrong-answer catalog (wrong-answers.ts) holds the mistakes we thought of; StrykerJS
 * finds the ones we did not: it changes the solution one small edit at a time (a `<` into
 * `<=`, a condition into `true`, a string into `""`, a block emptied) and runs the
 * exercise's real tests, against the real services, on each such mutant. A mutant the tests
 * still pass is a wrong answer a learner could hand in and be told it is right.
 *
 * Only the learner's part is mutated: the lines where the solution differs from the starter.
 * The rest (the starter's scaffolding) is ours, and tested by the lessons.
 *
 * An equivalent mutant (a change no caller can observe) is disabled in the solution with
 * `// Stryker disable next-line <Mutator>: <why it is equivalent>`, never silently; the
 * table counts them apart.
 */

/** `src/app.ts:12-18`: the solution's lines that the starter does not have (Stryker's mutate syntax). */
export function learnerRanges(starterSrc: string, solutionSrc: string): string[] {
  const ranges: string[] = [];
  for (const file of listFiles(solutionSrc).sort()) {
    if (!/\.[cm]?ts$/.test(file) || file.endsWith('.d.ts')) continue;
    const solution = readFileSync(join(solutionSrc, file), 'utf8');
    const starterFile = join(starterSrc, file);
    const starter = existsSync(starterFile) ? readFileSync(starterFile, 'utf8') : '';
    const patch = structuredPatch(file, file, starter, solution, '', '', { context: 0 });
    for (const hunk of patch.hunks) {
      const added = hunk.lines.filter((l) => l.startsWith('+')).length;
      if (added === 0) continue;
      const first = hunk.newStart;
      ranges.push(`src/${file}:${first}-${first + hunk.newLines - 1}`);
    }
  }
  return ranges;
}

export interface MutationScore {
  exercise: string;
  mutants: number;
  killed: number;
  timeout: number;
  survived: number;
  noCoverage: number;
  /** Disabled with a `// Stryker disable` comment that says why it is equivalent. */
  equivalent: number;
  /** Mutants that do not compile or crash the run: not counted in the score. */
  errors: number;
  /** (killed + timeout) / (killed + timeout + survived + noCoverage), in percent. */
  score: number;
  seconds: number;
  survivors: { file: string; line: number; mutator: string; replacement: string }[];
}

interface ReportMutant {
  mutatorName: string;
  replacement?: string;
  status: string;
  location: { start: { line: number; column: number } };
}

/** Counts from a mutation-testing-report-schema JSON report (what Stryker's json reporter writes). */
export function scoreReport(
  exercise: string,
  report: { files: Record<string, { mutants: ReportMutant[] }> },
  seconds: number,
): MutationScore {
  const score: MutationScore = {
    exercise,
    mutants: 0,
    killed: 0,
    timeout: 0,
    survived: 0,
    noCoverage: 0,
    equivalent: 0,
    errors: 0,
    score: 0,
    seconds,
    survivors: [],
  };
  for (const [file, { mutants }] of Object.entries(report.files)) {
    for (const m of mutants) {
      score.mutants++;
      if (m.status === 'Killed') score.killed++;
      else if (m.status === 'Timeout') score.timeout++;
      else if (m.status === 'Survived' || m.status === 'NoCoverage') {
        if (m.status === 'Survived') score.survived++;
        else score.noCoverage++;
        score.survivors.push({
          file: file.replace(/^.*?src\//, 'src/'),
          line: m.location.start.line,
          mutator: m.mutatorName,
          replacement: (m.replacement ?? '').replace(/\s+/g, ' ').slice(0, 80),
        });
      } else if (m.status === 'Ignored') score.equivalent++;
      else score.errors++;
    }
  }
  const detected = score.killed + score.timeout;
  const valid = detected + score.survived + score.noCoverage;
  score.score = valid === 0 ? 100 : (100 * detected) / valid;
  return score;
}

const require = createRequire(import.meta.url);

/** Run Stryker on one exercise's solution, in a run workspace (inside the repository, for node_modules). */
export async function mutate(
  exercise: Exercise,
  options: { concurrency?: number; log?: (line: string) => void } = {},
): Promise<MutationScore> {
  const ranges = learnerRanges(join(exercise.dir, 'src'), join(exercise.solutionDir, 'src'));
  const workspace = prepareWorkspace(exercise, join(exercise.solutionDir, 'src'), `mutation-${exercise.id}`);
  const started = Date.now();
  try {
    // The exercise's vitest.config.ts re-exports ../../vitest.shared.ts, which is not two
    // levels up from the workspace: point at the same shared configuration by absolute path.
    writeFileSync(
      join(workspace.dir, 'vitest.config.ts'),
      `export { default } from ${JSON.stringify(join(REPO_ROOT, 'vitest.shared.ts'))};\n`,
    );
    const config = {
      $schema: join(REPO_ROOT, 'node_modules/@stryker-mutator/core/schema/stryker-schema.json'),
      testRunner: 'vitest',
      plugins: [require.resolve('@stryker-mutator/vitest-runner')],
      vitest: { configFile: 'vitest.config.ts', related: false },
      mutate: ranges,
      // The workspace is already a scratch copy: mutate it where it is, so that module
      // resolution walks up to the repository's node_modules.
      inPlace: true,
      coverageAnalysis: 'perTest',
      concurrency: options.concurrency ?? 2,
      // Real services: a test waits on PostgreSQL and Redis, so a mutant that loops forever
      // is told from a slow machine by a generous margin over the dry run's time.
      timeoutMS: 15_000,
      timeoutFactor: 2,
      reporters: ['json', 'clear-text'],
      clearTextReporter: { allowColor: false, logTests: false, allowEmojis: false },
      jsonReporter: { fileName: 'reports/mutation.json' },
      tempDirName: '.stryker-tmp',
      cleanTempDir: 'always',
      incremental: false,
      logLevel: 'warn',
      fileLogLevel: 'off',
    };
    writeFileSync(join(workspace.dir, 'stryker.config.json'), `${JSON.stringify(config, null, 2)}\n`);
    const bin = join(REPO_ROOT, 'node_modules/@stryker-mutator/core/bin/stryker.js');
    const output: string[] = [];
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, 'run', 'stryker.config.json'], {
        cwd: workspace.dir,
        env: { ...process.env, FORCE_COLOR: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const take = (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) {
          if (!line.trim()) continue;
          output.push(line);
          options.log?.(line);
        }
      };
      child.stdout.on('data', take);
      child.stderr.on('data', take);
      child.on('error', reject);
      child.on('close', (status) => resolve(status ?? 1));
    });
    const reportFile = join(workspace.dir, 'reports/mutation.json');
    if (code !== 0 || !existsSync(reportFile))
      throw new Error(`Stryker failed on exercise ${exercise.id} (exit ${code}):\n${output.slice(-30).join('\n')}`);
    const report = JSON.parse(readFileSync(reportFile, 'utf8'));
    return scoreReport(exercise.id, report, (Date.now() - started) / 1000);
  } finally {
    if (!process.env.CACHELAB_KEEP_MUTATION) workspace.dispose();
  }
}

const START = '<!-- mutation-table:start -->';
const END = '<!-- mutation-table:end -->';

export interface TableRow {
  exercise: string;
  mutants: number;
  killed: number;
  survived: number;
  equivalent: number;
  score: string;
  time: string;
  date: string;
  commit: string;
}

const COLUMNS: [keyof TableRow, string][] = [
  ['exercise', 'Exercise'],
  ['mutants', 'Mutants'],
  ['killed', 'Killed'],
  ['survived', 'Survived'],
  ['equivalent', 'Equivalent'],
  ['score', 'Score'],
  ['time', 'Time (2 cores)'],
  ['date', 'Date'],
  ['commit', 'Commit'],
];

/** The README's table, with `rows` replacing the rows of the same exercises; others are kept. */
export function updateTable(readme: string, rows: TableRow[]): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`the README has no ${START} … ${END} block for the table`);
  const kept = new Map<string, TableRow>();
  for (const line of readme.slice(start, end).split('\n')) {
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((s) => s.trim());
    if (cells.length !== COLUMNS.length || !/^\d{2}/.test(cells[0] ?? '')) continue;
    const row = Object.fromEntries(COLUMNS.map(([key], i) => [key, cells[i]])) as unknown as TableRow;
    kept.set(row.exercise, row);
  }
  for (const row of rows) kept.set(row.exercise, row);
  const lines = [
    `| ${COLUMNS.map(([, title]) => title).join(' | ')} |`,
    `|${COLUMNS.map(([key]) => (key === 'exercise' || key === 'date' || key === 'commit' ? ' --- ' : ' ---: ')).join('|')}|`,
    ...[...kept.values()]
      .sort((a, b) => a.exercise.localeCompare(b.exercise))
      .map((row) => `| ${COLUMNS.map(([key]) => String(row[key])).join(' | ')} |`),
  ];
  return `${readme.slice(0, start + START.length)}\n${lines.join('\n')}\n${readme.slice(end)}`;
}
