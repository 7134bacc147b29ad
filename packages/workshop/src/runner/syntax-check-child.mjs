// The parse of a submitted src/ (syntax-check.ts), in a process of its own that the runner
// kills at its deadline: esbuild's TypeScript parser backtracks on some inputs (30 KB of
// nested arrow functions take minutes, 1 MB takes days), and a graded src/ is untrusted.
// Plain JavaScript, so that it starts without tsx. Reads a JSON request on stdin:
//   { "dir": "/abs/src", "files": [["app.ts", "ts"], …] }
// and writes one JSON array, an entry per file: null (parsed) or { text, line, column } (the
// first error, column 0-based as esbuild gives it); "unparsed" when esbuild itself failed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const { dir, files } = JSON.parse(input);
let transform;
try {
  ({ transform } = await import('esbuild'));
} catch {
  process.stdout.write(JSON.stringify(files.map(() => 'unparsed')));
  process.exit(0);
}
const results = await Promise.all(
  files.map(async ([file, loader]) => {
    let code;
    try {
      code = readFileSync(join(dir, file), 'utf8');
    } catch {
      return 'unparsed';
    }
    try {
      await transform(code, { loader, sourcefile: file, logLevel: 'silent', target: 'esnext' });
      return null;
    } catch (err) {
      const first = err?.errors?.[0];
      if (!first?.location) return 'unparsed';
      return { text: first.text, line: first.location.line, column: first.location.column };
    }
  }),
);
process.stdout.write(JSON.stringify(results), () => process.exit(0));
