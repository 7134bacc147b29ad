import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { APPENDIX_FILE, listSteps, stepOfFile } from './lesson-steps.ts';
import { listLessons, REPO_ROOT } from './repo.ts';

/**
 * The figures a lesson's text quotes from a measure script, and how to check them
 * (`npm run figures`, scripts/figures.ts). A lesson's text is its README, its steps
 * (steps/M-slug.md) and its appendix.md; each marks them with an HTML comment, which
 * GitHub does not show and `cachelab read` drops, just before the block that holds them:
 *
 *     <!-- figures: npx tsx lessons/10-production/src/measure-fail-open.ts
 *     healthy.redisCommands  exact  Redis healthy … Redis commands {}
 *     healthy.p50Ms          ×4     Redis healthy … p50 {} ms
 *     -->
 *     ```
 *     Redis healthy        p50    1.7 ms   p99    6.5 ms   max    9.4 ms   Redis commands  600   MISS 200
 *     ```
 *
 * - The first line is the command, as the README shows it (`npx tsx …` or
 *   `node --expose-gc --import tsx …`, with its arguments). The check runs it with `--json`.
 * - Each other line is one figure: its name in the script's `--json` output, its tolerance, and
 *   where it is: a piece of the block with `{}` where the number stands. A space in it matches
 *   any run of white space (so columns and reflowed prose still match), `…` anything on the same
 *   line, `……` anything across lines, `#` any number (one that is not the figure: a row label
 *   like `208 B` that may change); it must match exactly once in the block.
 * - The block is the fenced code block after the comment, or else the lines up to the next
 *   blank line (a paragraph, a table, a list).
 * - Tolerances: `exact` (equal at the precision written: 17.8 for 17.799), `±5` (absolute, in
 *   the figure's unit), `±20%` (relative), `×3` (within a factor of 3 either way: for timings,
 *   whose noise on a shared machine is multiplicative).
 *
 * A script declares the figures it prints in `export const FIGURES = ['…']` (brace patterns allowed:
 * `'{healthy,cut}.{p50Ms,p99Ms}'`), so that a marker naming a figure no script prints is found
 * without running anything (test/figures.test.ts).
 */

export type Tolerance =
  | { kind: 'exact' }
  | { kind: 'absolute'; amount: number }
  | { kind: 'relative'; fraction: number }
  | { kind: 'factor'; factor: number };

export interface Figure {
  /** The README, relative to the repository. */
  file: string;
  /** 1-based line of the number in the README. */
  line: number;
  /** The command as the marker names it. */
  command: string;
  /** The figure's name in the command's `--json` output. */
  name: string;
  tolerance: Tolerance;
  /** The tolerance as written in the marker. */
  toleranceText: string;
  /** The number as the README writes it (`17,798,655`, `1.7`). */
  writtenText: string;
  written: number;
  /** Offset of `writtenText` in the README's text. */
  offset: number;
}

export interface MarkedReadme {
  file: string;
  figures: Figure[];
  /** What is wrong with the markers themselves: a marker that cannot be read or located. */
  problems: string[];
}

/** A number as the READMEs write them: `1.7`, `17,798,655`, `-3`. */
const NUMBER = String.raw`-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?`;

export function parseTolerance(text: string): Tolerance | undefined {
  if (text === 'exact') return { kind: 'exact' };
  let m = /^±(\d+(?:\.\d+)?)%$/.exec(text);
  if (m) return { kind: 'relative', fraction: Number(m[1]) / 100 };
  m = /^±(\d+(?:\.\d+)?)$/.exec(text);
  if (m) return { kind: 'absolute', amount: Number(m[1]) };
  m = /^×(\d+(?:\.\d+)?)$/.exec(text);
  if (m && Number(m[1]) > 1) return { kind: 'factor', factor: Number(m[1]) };
  return undefined;
}

/** `17,798,655` → 17798655. */
export function parseWritten(text: string): number {
  return Number(text.replaceAll(',', ''));
}

function decimals(text: string): number {
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
}

/** `value` written the way `like` is: the same decimals, thousands separated if `like` separates them. */
export function formatLike(value: number, like: string): string {
  const fixed = value.toFixed(decimals(like));
  if (!like.includes(',')) return fixed;
  const [int, frac] = fixed.split('.');
  const grouped = (int as string).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

/** Is `measured` what the README says, within the tolerance? Compared at the precision written. */
export function withinTolerance(
  figure: Pick<Figure, 'written' | 'writtenText' | 'tolerance'>,
  measured: number,
): boolean {
  const { written, tolerance } = figure;
  const rounded = parseWritten(formatLike(measured, figure.writtenText.replaceAll(',', '')));
  switch (tolerance.kind) {
    case 'exact':
      return rounded === written;
    case 'absolute':
      return Math.abs(rounded - written) <= tolerance.amount + 1e-9;
    case 'relative':
      return Math.abs(rounded - written) <= tolerance.fraction * Math.abs(written) + 1e-9;
    case 'factor':
      if (written === 0 || rounded === 0) return rounded === written;
      return rounded / written <= tolerance.factor && written / rounded <= tolerance.factor;
  }
}

/** The regular expression of an anchor: `{}` captures the number. */
function anchorPattern(anchor: string): RegExp {
  const [before, after] = anchor.split('{}') as [string, string];
  const part = (s: string) =>
    s
      .split(/(\s+|……|…|#)/)
      .map((t) => {
        if (t === '……') return '[\\s\\S]*?';
        if (t === '…') return '[^\\n]*?';
        if (t === '#') return `(?:${NUMBER})`;
        return /^\s+$/.test(t) ? '\\s+' : t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('');
  // A number is never read out of a longer one: nothing numeric right before or after it.
  return new RegExp(`${part(before)}(?<![\\d.,])(${NUMBER})(?![\\d]|[.,]\\d)${part(after)}`, 'dg');
}

/** The lines that a marker ending at `from` (exclusive) describes: a fenced block or a paragraph. */
function blockAfter(lines: string[], from: number): { start: number; end: number } | undefined {
  let i = from;
  while (i < lines.length && (lines[i] as string).trim() === '') i++;
  if (i >= lines.length) return undefined;
  const fence = /^\s*(```+|~~~+)/.exec(lines[i] as string);
  if (fence) {
    const closing = fence[1] as string;
    for (let j = i + 1; j < lines.length; j++) {
      if ((lines[j] as string).trim().startsWith(closing)) return { start: i, end: j + 1 };
    }
    return { start: i, end: lines.length };
  }
  let j = i;
  while (j < lines.length && (lines[j] as string).trim() !== '' && !/^\s*<!--/.test(lines[j] as string)) j++;
  return { start: i, end: j };
}

/** Read the figure markers of one README. */
export function parseFigures(file: string, text: string): MarkedReadme {
  const lines = text.split('\n');
  const lineStart: number[] = [];
  let offset = 0;
  for (const line of lines) {
    lineStart.push(offset);
    offset += line.length + 1;
  }
  const lineOf = (at: number) => {
    let lo = 0;
    let hi = lineStart.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStart[mid] as number) <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const figures: Figure[] = [];
  const problems: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*<!--\s*figures:\s*(.*?)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const where = `${file}:${i + 1}`;
    const command = (open[1] as string).replace(/\s*-->$/, '');
    let end = (lines[i] as string).includes('-->') ? i : i + 1;
    while (end < lines.length && !(lines[end] as string).includes('-->')) end++;
    if (end >= lines.length) {
      problems.push(`${where}: the marker is never closed with -->`);
      continue;
    }
    if (!command) problems.push(`${where}: the marker names no command`);
    const block = blockAfter(lines, end + 1);
    if (!block) {
      problems.push(`${where}: nothing follows the marker`);
      continue;
    }
    const blockFrom = lineStart[block.start] as number;
    const blockText = lines.slice(block.start, block.end).join('\n');
    for (let k = i + 1; k < end; k++) {
      const entry = (lines[k] as string).trim();
      if (entry === '') continue;
      const m = /^(\S+)\s+(\S+)\s+(.+)$/.exec(entry);
      const at = `${file}:${k + 1}`;
      if (!m) {
        problems.push(`${at}: "${entry}" is not "name tolerance text-with-{}"`);
        continue;
      }
      const [, name, toleranceText, anchor] = m as unknown as [string, string, string, string];
      const tolerance = parseTolerance(toleranceText);
      if (!tolerance) {
        problems.push(`${at}: ${name}: "${toleranceText}" is not a tolerance (exact, ±5, ±20%, ×3)`);
        continue;
      }
      if (anchor.split('{}').length !== 2) {
        problems.push(`${at}: ${name}: the text must hold {} exactly once, where the number is`);
        continue;
      }
      const matches = [...blockText.matchAll(anchorPattern(anchor))];
      if (matches.length !== 1) {
        problems.push(
          `${at}: ${name}: "${anchor}" matches ${matches.length === 0 ? 'nothing' : `${matches.length} times`} in the block at line ${block.start + 1}`,
        );
        continue;
      }
      const match = matches[0] as RegExpMatchArray & { indices: [number, number][] };
      const writtenText = match[1] as string;
      const numberAt = blockFrom + (match.indices[1] as [number, number])[0];
      figures.push({
        file,
        line: lineOf(numberAt),
        command,
        name,
        tolerance,
        toleranceText,
        writtenText,
        written: parseWritten(writtenText),
        offset: numberAt,
      });
    }
    i = end;
  }
  return { file, figures, problems };
}

/**
 * The markers of every lesson's texts (or only those of `lessonIds`): its README, its steps
 * (steps/M-slug.md, lesson-steps.ts) and its appendix.md, in reading order.
 */
export function lessonFigures(lessonIds: string[] = [], root: string = REPO_ROOT): MarkedReadme[] {
  return listLessons(root)
    .filter((l) => lessonIds.length === 0 || lessonIds.includes(l.id))
    .flatMap((l) => [...listSteps(l).map((s) => s.path), join(l.dir, APPENDIX_FILE)])
    .filter((f) => existsSync(f))
    .map((f) => parseFigures(relative(root, f), readFileSync(f, 'utf8')));
}

/** `lessons/05-invalidation/steps/3-tags.md` → `05.3`; README `05`, appendix `05 appendix`. */
export function shortTextName(file: string): string {
  const m = /^lessons\/(\d\d)-[^/]+\/(.+)$/.exec(file);
  if (!m) return file;
  const [, id, rest] = m as unknown as [string, string, string];
  if (rest === APPENDIX_FILE) return `${id} appendix`;
  const step = stepOfFile(rest);
  return step === undefined ? file : step === 1 ? id : `${id}.${step}`;
}

/** How a marker's command runs: node's own arguments, the script, and the script's arguments. */
export function parseCommand(command: string): { nodeArgs: string[]; script: string; args: string[] } | undefined {
  const words = command.split(/\s+/).filter(Boolean);
  const scriptAt = words.findIndex((w) => w.endsWith('.ts'));
  if (scriptAt < 0) return undefined;
  const launcher = words.slice(0, scriptAt);
  let nodeArgs: string[];
  if (launcher.join(' ') === 'npx tsx') nodeArgs = ['--import', 'tsx'];
  else if (launcher[0] === 'node' && launcher.includes('tsx')) nodeArgs = launcher.slice(1);
  else return undefined;
  return { nodeArgs, script: words[scriptAt] as string, args: words.slice(scriptAt + 1) };
}

/** `'{a,b}.{x,y}'` → a.x, a.y, b.x, b.y. */
export function expandBraces(pattern: string): string[] {
  const m = /\{([^{}]*)\}/.exec(pattern);
  if (!m) return [pattern];
  const head = pattern.slice(0, m.index);
  const tail = pattern.slice(m.index + m[0].length);
  return (m[1] as string).split(',').flatMap((option) => expandBraces(`${head}${option}${tail}`));
}

/** The figures a script declares in `const FIGURES = [...]`, read from its source without running it. */
export function declaredFigures(source: string): string[] | undefined {
  const m = /^(?:export )?const FIGURES = \[([\s\S]*?)\];$/m.exec(source);
  if (!m) return undefined;
  return [...(m[1] as string).matchAll(/'([^']*)'/g)].flatMap((s) => expandBraces(s[1] as string));
}

/** `{ a: { b: 1 } }` → `{ 'a.b': 1 }`: the names markers use. */
export function flatten(value: unknown, prefix = ''): Map<string, number> {
  const out = new Map<string, number>();
  if (typeof value === 'number') out.set(prefix, value);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      for (const [name, n] of flatten(v, prefix ? `${prefix}.${k}` : k)) out.set(name, n);
    }
  }
  return out;
}

/**
 * `text` with each figure's number replaced by its new value, written like the old one. In a
 * line padded into columns, the spaces before the number absorb the change of width, so that
 * right-aligned columns stay aligned.
 */
export function rewrite(text: string, updates: { figure: Figure; value: number }[]): string {
  let out = text;
  for (const { figure, value } of [...updates].sort((a, b) => b.figure.offset - a.figure.offset)) {
    const { offset, writtenText } = figure;
    if (out.slice(offset, offset + writtenText.length) !== writtenText) {
      throw new Error(`${figure.file}:${figure.line}: ${figure.name} is no longer "${writtenText}" there`);
    }
    const next = formatLike(value, writtenText);
    let start = offset;
    let replacement = next;
    const grow = next.length - writtenText.length;
    const spaces = /( +)$/.exec(out.slice(Math.max(0, offset - 40), offset))?.[1]?.length ?? 0;
    if (spaces >= 2) {
      // A padded column: keep the column's right edge where it was, and at least one space.
      const kept = Math.max(1, spaces - grow);
      start = offset - spaces;
      replacement = ' '.repeat(kept) + next;
    }
    out = out.slice(0, start) + replacement + out.slice(offset + writtenText.length);
  }
  return out;
}
