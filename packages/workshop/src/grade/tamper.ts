import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Exercise } from '../repo.ts';
import { listFiles } from '../runner/workspace.ts';
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
 */
const CONFIG_FILES = ['package.json', 'tsconfig.json', 'vitest.config.ts'];

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of a file with CRLF turned into LF; undefined when it is not a readable file. */
export function fileSha256(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return undefined;
    const bytes = readFileSync(path);
    return sha256(bytes.includes(13) ? Buffer.from(bytes.toString('latin1').replace(/\r\n/g, '\n'), 'latin1') : bytes);
  } catch {
    return undefined;
  }
}

/** The files tamper evidence compares: test/** and the configuration, relative to the exercise. */
function comparedFiles(dir: string): string[] {
  return [
    ...listFiles(join(dir, 'test')).map((f) => `test/${f}`),
    ...CONFIG_FILES.filter((f) => existsSync(join(dir, f))),
  ];
}

/**
 * Compare a submission's copy of an exercise (`exercises/<name>/` in the submission) with
 * the pristine one. [] when the submission has no such folder.
 */
export function findTampering(exercise: Exercise, submittedDir: string): TamperFinding[] {
  if (!existsSync(submittedDir)) return [];
  const findings: TamperFinding[] = [];
  const pristine = comparedFiles(exercise.dir);
  const submitted = new Set(comparedFiles(submittedDir));
  const hasTests = existsSync(join(submittedDir, 'test'));
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
    if (submittedSha256 !== pristineSha256)
      findings.push({ exercise: exercise.name, file, change: 'modified', pristineSha256, submittedSha256 });
  }
  for (const file of submitted) {
    const submittedSha256 = fileSha256(join(submittedDir, file));
    findings.push({ exercise: exercise.name, file, change: 'added', ...(submittedSha256 ? { submittedSha256 } : {}) });
  }
  return findings.sort((a, b) => a.file.localeCompare(b.file));
}

/** A digest of a folder's files (paths and contents), skipping what the runner skips. */
export function folderFingerprint(dir: string, skip: (file: string) => boolean = () => false): string {
  const hash = createHash('sha256');
  for (const file of listFiles(dir)) {
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
