import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

/** The syntax errors of every source file in `srcDir` (first per file), files in order. */
export async function findSyntaxErrors(srcDir: string, shownAs: string): Promise<SyntaxProblem[]> {
  const files = listFiles(srcDir).filter((f) => LOADERS[extension(f)] !== undefined);
  if (files.length === 0) return [];
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
