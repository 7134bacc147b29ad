import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listFiles } from './workspace.ts';

/**
 * Syntax errors in a src/, found before any test runs. A test only loads the files it
 * imports, so a broken file that nothing imports yet (exercise 01's app.ts imports only a
 * type from payments-query.ts) would be invisible: the run would report the starter's
 * failures, as if the learner's edit had not happened. Every file of the src/ is parsed
 * instead, and the first error is the run's result.
 *
 * The parser is esbuild's (`transform`), which tsx brings and which accepts all of
 * TypeScript; it is loaded on the first call only, so the CLI starts without it. Where it
 * cannot load, nothing is reported and the tests find what they find.
 */

export interface SyntaxProblem {
  /** The file as a person opens it: `exercises/01-validate-input/src/payments-query.ts`. */
  file: string;
  /** 1-based, like an editor's. */
  line: number;
  column: number;
  /** esbuild's words: "Expected ")" but found end of file". */
  text: string;
  /** The code around it, numbered, with a caret under the column. */
  frame: string[];
}

const LOADERS: Record<string, 'ts' | 'tsx' | 'js'> = {
  '.ts': 'ts',
  '.mts': 'ts',
  '.cts': 'ts',
  '.tsx': 'tsx',
  '.js': 'js',
  '.mjs': 'js',
};
/** Larger files are left to the run (a generated fixture, say): parsing them costs more than it tells. */
const MAX_BYTES = 2 * 1024 * 1024;

type Transform = (
  code: string,
  options: { loader: string; sourcefile: string; logLevel: 'silent'; target: string },
) => Promise<unknown>;
interface EsbuildError {
  text: string;
  location: { line: number; column: number; lineText: string } | null;
}

let transform: Promise<Transform | undefined> | undefined;
function loadTransform(): Promise<Transform | undefined> {
  transform ??= import('esbuild').then(
    (esbuild) => esbuild.transform as Transform,
    () => undefined,
  );
  return transform;
}

/** How long an isolated parse may take (grade) before it is given up. */
export const ISOLATED_DEADLINE_MS = 15_000;
const CHILD = fileURLToPath(new URL('./syntax-check-child.mjs', import.meta.url));

/**
 * The syntax errors of every source file in `srcDir` (first per file), files in order.
 *
 * `isolated` (grade: an untrusted src/): parse in a process of its own, killed (with its
 * esbuild) after `deadlineMs`. esbuild's TypeScript parser backtracks on some inputs (30 KB of
 * nested arrow functions `(a) => (a) => …` take minutes, within the size caps days), and
 * this happens before the run's timeout starts, outside the sandbox: in the grader's own
 * esbuild it held the batch forever. Past the deadline nothing is reported and the run,
 * bounded by its timeout, finds what it finds.
 */
export async function findSyntaxErrors(
  srcDir: string,
  shownAs: string,
  options: { isolated?: { deadlineMs: number } } = {},
): Promise<SyntaxProblem[]> {
  const files = listFiles(srcDir).filter((f) => LOADERS[extension(f)] !== undefined);
  if (files.length === 0) return [];
  if (options.isolated) return isolatedSyntaxErrors(srcDir, shownAs, files, options.isolated.deadlineMs);
  const run = await loadTransform();
  if (!run) return [];
  const found = await Promise.all(
    files.map(async (file): Promise<SyntaxProblem | undefined> => {
      let code: string;
      try {
        const bytes = readFileSync(join(srcDir, file));
        if (bytes.length > MAX_BYTES) return undefined;
        code = bytes.toString('utf8');
      } catch {
        return undefined; // unreadable: the run says so
      }
      const shown = `${shownAs}/${file.split('\\').join('/')}`;
      try {
        await run(code, {
          loader: LOADERS[extension(file)] as string,
          sourcefile: shown,
          logLevel: 'silent',
          target: 'esnext',
        });
        return undefined;
      } catch (err) {
        const first = (err as { errors?: EsbuildError[] }).errors?.[0];
        // Not a syntax error (esbuild itself failed): leave it to the run.
        if (!first?.location) return undefined;
        const line = first.location.line;
        const column = first.location.column + 1;
        return { file: shown, line, column, text: first.text, frame: codeFrame(code, line, column) };
      }
    }),
  );
  return found.filter((p): p is SyntaxProblem => p !== undefined);
}

async function isolatedSyntaxErrors(
  srcDir: string,
  shownAs: string,
  files: string[],
  deadlineMs: number,
): Promise<SyntaxProblem[]> {
  const parsed = files.filter((file) => {
    try {
      return statSync(join(srcDir, file)).size <= MAX_BYTES;
    } catch {
      return false;
    }
  });
  const request = JSON.stringify({ dir: srcDir, files: parsed.map((f) => [f, LOADERS[extension(f)]]) });
  const answer = await new Promise<string | undefined>((resolve) => {
    const child = spawn(process.execPath, [CHILD], {
      detached: true, // its own process group: the kill takes its esbuild with it
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    let out = '';
    let done = false;
    const finish = (value: string | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), deadlineMs);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      out += chunk;
    });
    child.on('error', () => finish(undefined));
    child.on('close', (code) => finish(code === 0 ? out : undefined));
    child.stdin?.on('error', () => {});
    child.stdin?.end(request);
  });
  if (answer === undefined) return [];
  let results: unknown;
  try {
    results = JSON.parse(answer);
  } catch {
    return [];
  }
  if (!Array.isArray(results)) return [];
  const problems: SyntaxProblem[] = [];
  parsed.forEach((file, i) => {
    const r = results[i] as { text?: unknown; line?: unknown; column?: unknown } | null | string;
    if (!r || typeof r !== 'object' || typeof r.text !== 'string' || typeof r.line !== 'number') return;
    if (typeof r.column !== 'number') return;
    let code = '';
    try {
      code = readFileSync(join(srcDir, file), 'utf8');
    } catch {
      return;
    }
    const shown = `${shownAs}/${file.split('\\').join('/')}`;
    problems.push({
      file: shown,
      line: r.line,
      column: r.column + 1,
      text: r.text,
      frame: codeFrame(code, r.line, r.column + 1),
    });
  });
  return problems;
}

function extension(file: string): string {
  const dot = file.lastIndexOf('.');
  return dot < 0 ? '' : file.slice(dot);
}

/** The error's line and the one before it, numbered, and a caret under `column`. */
export function codeFrame(code: string, line: number, column: number): string[] {
  const lines = code.split(/\r?\n/);
  const first = Math.max(1, line - 1);
  const width = String(line).length;
  const out: string[] = [];
  for (let n = first; n <= line; n++) {
    const text = (lines[n - 1] ?? '').replace(/\t/g, '  ');
    out.push(`${String(n).padStart(width)} | ${text}`.trimEnd());
  }
  const before = (lines[line - 1] ?? '').slice(0, column - 1).replace(/\t/g, '  ');
  out.push(`${' '.repeat(width)} | ${' '.repeat(before.length)}^`);
  return out;
}

/** One line for the run's result: where, what, and what it usually means. */
export function describeSyntaxProblems(problems: SyntaxProblem[]): string {
  const [first, ...rest] = problems as [SyntaxProblem, ...SyntaxProblem[]];
  const hint = /end of file/.test(first.text)
    ? ' (something opened above it, a bracket, a brace or a string, is never closed)'
    : '';
  const more =
    rest.length === 0
      ? ''
      : ` And ${rest.length} more file${rest.length === 1 ? '' : 's'} with one: ${rest
          .slice(0, 3)
          .map((p) => `${p.file}:${p.line}:${p.column}`)
          .join(', ')}${rest.length > 3 ? ', …' : ''}.`;
  return `${first.file}:${first.line}:${first.column}: ${first.text}${hint}. A syntax error: no test could run.${more}`;
}
