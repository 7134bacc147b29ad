/**
 * Are the lessons' figures still what their commands print? (src/figures.ts says how a lesson's
 * text — README, steps/*.md, appendix.md — marks them.)
 *
 *   npm run figures -- [NN…] [--write] [--verbose]
 *
 * Runs every command the lessons' markers name (each once, one after the other, with `--json`),
 * and prints one row per marked figure: the text and line (05 the README, 05.3 step 3, 05 appendix),
 * the figure, what is written, what was measured now, the tolerance, ✓ or ✗. Exits 1 when a figure drifted past its tolerance, a
 * marker cannot be read, or a script prints other figures than it declares. `--write` puts the
 * measured value of each drifted figure into its file (the prose around it is yours to check).
 *
 * Timings depend on the machine's load: it prints the load average before each command, and
 * warns when it is above three quarters of the CPUs.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requireServices } from '../src/commands/doctor.ts';
import { drawTable } from '../src/commands/read.ts';
import {
  declaredFigures,
  type Figure,
  flatten,
  formatLike,
  lessonFigures,
  parseCommand,
  rewrite,
  shortTextName,
  withinTolerance,
} from '../src/figures.ts';
import { c, fail, mark, ok, progress, warn } from '../src/output.ts';
import { REPO_ROOT } from '../src/repo.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    write: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});
const lessons = positionals.map((p) => p.padStart(2, '0'));
const readmes = lessonFigures(lessons);
if (readmes.length === 0) {
  fail(`no lesson matches ${positionals.join(' ')}`);
  process.exit(2);
}
let failed = false;
for (const problem of readmes.flatMap((r) => r.problems)) {
  fail(problem);
  failed = true;
}
const figures = readmes.flatMap((r) => r.figures);
if (figures.length === 0) {
  warn(`no marked figures in ${readmes.map((r) => r.file).join(', ')}`);
  process.exit(failed ? 1 : 0);
}
await requireServices();

/** Run one marker's command with --json: its figures by name, or why there are none. */
async function measure(command: string): Promise<Map<string, number> | string> {
  const parsed = parseCommand(command);
  if (!parsed) return `"${command}" is not \`npx tsx <script.ts> …\` or \`node … --import tsx <script.ts> …\``;
  const script = join(REPO_ROOT, parsed.script);
  if (!existsSync(script)) return `${parsed.script} does not exist`;
  const declared = declaredFigures(readFileSync(script, 'utf8'));
  if (!declared) return `${parsed.script} declares no \`export const FIGURES = [...]\``;
  const child = spawn(process.execPath, [...parsed.nodeArgs, script, ...parsed.args, '--json'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    if (values.verbose) process.stderr.write(c.dim(s));
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const last = stdout.trim().split('\n').at(-1) ?? '';
  let produced: Map<string, number>;
  try {
    if (code !== 0) throw new Error(`exit code ${code}`);
    produced = flatten(JSON.parse(last));
  } catch (err) {
    return `${command} failed (${(err as Error).message}):\n${stderr.trim().split('\n').slice(-10).join('\n')}`;
  }
  const missing = declared.filter((n) => !produced.has(n));
  const extra = [...produced.keys()].filter((n) => !declared.includes(n));
  if (missing.length > 0 || extra.length > 0) {
    return `${parsed.script} printed other figures than its FIGURES declare (missing: ${missing.join(', ') || 'none'}; not declared: ${extra.join(', ') || 'none'})`;
  }
  return produced;
}

const commands = [...new Set(figures.map((f) => f.command))];
const measured = new Map<string, Map<string, number>>();
const busy = cpus().length * 0.75;
for (const command of commands) {
  const load = loadavg()[0] ?? 0;
  if (load > busy) warn(`load average ${load.toFixed(2)} on ${cpus().length} CPUs: timings will be noisy`);
  const started = Date.now();
  const line = progress(`${command} (load average ${load.toFixed(2)})`);
  const result = await measure(command);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  if (typeof result === 'string') {
    line.done(`${mark.fail} ${result}`);
    failed = true;
  } else {
    line.done(`${mark.ok} ${command} ${c.dim(`(${seconds} s, load average ${load.toFixed(2)} before)`)}`);
    measured.set(command, result);
  }
}

interface Row {
  figure: Figure;
  now: number | undefined;
  ok: boolean;
}
const rows: Row[] = figures.map((figure) => {
  const now = measured.get(figure.command)?.get(figure.name);
  return { figure, now, ok: now !== undefined && withinTolerance(figure, now) };
});
const script = (command: string) => /([^/\s]+)\.ts\b/.exec(command)?.[1] ?? command;
const table = drawTable(
  ['text', 'figure', 'written', 'now', 'tolerance', ''],
  rows.map(({ figure, now, ok: good }) => [
    `${shortTextName(figure.file)}:${figure.line}`,
    `${script(figure.command)} ${figure.name}`,
    figure.writtenText,
    now === undefined ? '—' : formatLike(now, figure.writtenText),
    figure.toleranceText,
    good ? '✓' : '✗',
  ]),
  Math.max(100, process.stdout.columns ?? 100),
);
console.log(`\n${table}\n`);

for (const { figure } of rows.filter((r) => r.now === undefined && measured.has(r.figure.command))) {
  fail(`${figure.file}:${figure.line}: ${script(figure.command)} printed no figure ${figure.name}`);
  failed = true;
}
const drifted = rows.filter((r) => !r.ok && r.now !== undefined);
if (drifted.length === 0 && !failed) {
  ok(
    `${rows.length} figures in ${readmes.length} lesson text${readmes.length === 1 ? '' : 's'} are what their commands print`,
  );
  process.exit(0);
}
if (drifted.length > 0) fail(`${drifted.length} of ${rows.length} figures drifted past their tolerance`);
if (values.write && drifted.length > 0) {
  for (const file of new Set(drifted.map((r) => r.figure.file))) {
    const path = join(REPO_ROOT, file);
    const updates = drifted
      .filter((r) => r.figure.file === file)
      .map((r) => ({ figure: r.figure, value: r.now as number }));
    writeFileSync(path, rewrite(readFileSync(path, 'utf8'), updates));
    ok(`${file}: ${updates.length} figure${updates.length === 1 ? '' : 's'} written; read the prose around them`);
  }
  process.exit(failed ? 1 : 0);
}
process.exit(1);
