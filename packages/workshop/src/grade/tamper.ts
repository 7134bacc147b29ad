import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Exercise } from '../repo.ts';
import {
  byCodePoint,
  existsNoFollow,
  isRealDirectory,
  isRegularFile,
  listRegularFiles,
  readSmallText,
  safeFileSha256,
} from './safe-files.ts';
import type { TamperFinding } from './types.ts';

/**
 * Tamper evidence. A submission's tests and configuration are never used — the run takes
 * them from the pristine exercise — but a submission whose copies differ (tests edited to
 * pass, a `.skip` added, package.json or vitest.config.ts changed) is FLAGGED so that the
 * instructor can look. Evidence, not a verdict: a fork of an older version of the workshop
 * differs too, and the report says which files.
 *
 * Compared: every file under test/, and package.json, tsconfig.json, vitest.config.ts —
 * each only when the submission has it (an extracted zip with src/ alone is not flagged).
 * Line endings are normalised first, so a Windows checkout (CRLF) is not "modified".
 * Only regular files are compared (a link is never followed: the exercise is refused for it
 * anyway, see safe-files.ts); files are hashed in chunks, and only files up to
 * DIFF_MAX_BYTES are diffed — a larger one says "too large to diff (N bytes)".
 */
const CONFIG_FILES = ['package.json', 'tsconfig.json', 'vitest.config.ts'];

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * sha256 of a regular file with CRLF turned into LF, read in chunks; undefined when it is
 * not a regular file (a link is not followed, a FIFO or device is not opened).
 */
export const fileSha256 = safeFileSha256;

/** The regular files tamper evidence compares: test/** and the configuration, relative to the exercise. */
function comparedFiles(dir: string): string[] {
  return [
    ...listRegularFiles(join(dir, 'test')).map((f) => `test/${f}`),
    ...CONFIG_FILES.filter((f) => isRegularFile(join(dir, f))),
  ];
}

/**
 * Compare a submission's copy of an exercise (`exercises/<name>/` in the submission) with
 * the pristine one. [] when the submission has no such folder.
 */
export function findTampering(exercise: Exercise, submittedDir: string): TamperFinding[] {
  if (!isRealDirectory(submittedDir)) return [];
  const findings: TamperFinding[] = [];
  const pristine = comparedFiles(exercise.dir);
  const submitted = new Set(comparedFiles(submittedDir));
  const hasTests = existsNoFollow(join(submittedDir, 'test'));
  for (const file of pristine) {
    const pristineSha256 = fileSha256(join(exercise.dir, file)) as string;
    if (!submitted.has(file)) {
      // A missing config file is normal (a zip of src/ only); a test file removed from a
      // test/ folder that is otherwise there is not.
      if (file.startsWith('test/') && hasTests)
        findings.push({ exercise: exercise.name, file, change: 'removed', pristineSha256 });
      continue;
    }
    submitted.delete(file);
    const submittedSha256 = fileSha256(join(submittedDir, file));
    if (submittedSha256 !== pristineSha256) {
      const diff = diffFiles(join(exercise.dir, file), join(submittedDir, file));
      findings.push({ exercise: exercise.name, file, change: 'modified', pristineSha256, submittedSha256, diff });
    }
  }
  for (const file of submitted) {
    const submittedSha256 = fileSha256(join(submittedDir, file));
    const diff = diffFiles(undefined, join(submittedDir, file));
    findings.push({
      exercise: exercise.name,
      file,
      change: 'added',
      ...(submittedSha256 ? { submittedSha256 } : {}),
      diff,
    });
  }
  return findings.sort((a, b) => byCodePoint(a.file, b.file));
}

/** Files larger than this are hashed but not diffed (a diff of a 100 MB file helps nobody). */
export const DIFF_MAX_BYTES = 256 * 1024;

/** The diff of a pristine file (undefined: added) and a submitted one, or why there is none. */
function diffFiles(pristinePath: string | undefined, submittedPath: string): string {
  const before = pristinePath ? readSmallText(pristinePath, DIFF_MAX_BYTES) : { ok: true as const, text: '' };
  const after = readSmallText(submittedPath, DIFF_MAX_BYTES);
  for (const side of [before, after])
    if (!side.ok)
      return side.size === undefined ? '(not a readable regular file)' : `(too large to diff (${side.size} bytes))`;
  return unifiedDiff((before as { text: string }).text, (after as { text: string }).text);
}

const DIFF_LIMIT = 4000;

/**
 * A unified diff of two small texts (tests and configuration files), so that the report
 * shows WHAT changed — an `it.skip`, an expected value — not only that something did.
 * Longest common subsequence over lines; files too large for that (over ~2,000 lines each)
 * get a note instead. Cut at 4,000 characters.
 */
export function unifiedDiff(before: string, after: string, context = 2): string {
  const a = before === '' ? [] : before.replace(/\n$/, '').split('\n');
  const b = after === '' ? [] : after.replace(/\n$/, '').split('\n');
  if (a.length * b.length > 4_000_000) return `(too large to compare line by line: ${a.length} → ${b.length} lines)`;
  // lcs[i][j] = length of the LCS of a[i..] and b[j..]
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      (lcs[i] as Uint32Array)[j] =
        a[i] === b[j]
          ? ((lcs[i + 1] as Uint32Array)[j + 1] as number) + 1
          : Math.max((lcs[i + 1] as Uint32Array)[j] as number, (lcs[i] as Uint32Array)[j + 1] as number);
  const ops: { kind: ' ' | '-' | '+'; line: string; a: number; b: number }[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) ops.push({ kind: ' ', line: a[i++] as string, a: i, b: ++j });
    else if (
      i < a.length &&
      (j >= b.length || ((lcs[i + 1] as Uint32Array)[j] as number) >= ((lcs[i] as Uint32Array)[j + 1] as number))
    )
      ops.push({ kind: '-', line: a[i++] as string, a: i, b: j });
    else ops.push({ kind: '+', line: b[j++] as string, a: i, b: j });
  }
  const keep = ops.map((_op, k) =>
    ops.slice(Math.max(0, k - context), k + context + 1).some((near) => near.kind !== ' '),
  );
  const lines: string[] = [];
  let previous = -1;
  ops.forEach((op, k) => {
    if (!keep[k]) return;
    if (previous === -1 || k !== previous + 1) lines.push(`@@ line ${op.kind === '+' ? op.b : op.a} @@`);
    lines.push(`${op.kind}${op.line}`);
    previous = k;
  });
  const text = lines.join('\n');
  return text.length > DIFF_LIMIT ? `${text.slice(0, DIFF_LIMIT)}\n… (cut)` : text;
}

/** A digest of a folder's files (paths and contents), skipping what the runner skips. */
export function folderFingerprint(dir: string, skip: (file: string) => boolean = () => false): string {
  const hash = createHash('sha256');
  for (const file of listRegularFiles(dir)) {
    if (skip(file)) continue;
    hash.update(`${file}\0${fileSha256(join(dir, file)) ?? '-'}\n`);
  }
  return hash.digest('hex');
}

/** What a run of this exercise depends on besides src/: its tests, configuration and metadata. */
export function pristineFingerprint(exercise: Exercise): string {
  return folderFingerprint(exercise.dir, (file) => file.startsWith('src/'));
}

/** What a run depends on from the submission: its src/, and the files tamper evidence compares. */
export function submissionFingerprint(srcDir: string, findings: TamperFinding[]): string {
  const flagged = findings.map((f) => `${f.file}:${f.change}:${f.submittedSha256 ?? ''}`).join('\n');
  return sha256(`${folderFingerprint(srcDir)}\n${flagged}`);
}

/** "01-fixture: test/price.test.ts (modified), package.json (modified)" */
export function describeFindings(findings: TamperFinding[]): string {
  const byExercise = new Map<string, string[]>();
  for (const f of findings) {
    const list = byExercise.get(f.exercise) ?? [];
    list.push(`${f.file} (${f.change})`);
    byExercise.set(f.exercise, list);
  }
  return [...byExercise].map(([exercise, files]) => `${exercise}: ${files.join(', ')}`).join('; ');
}
