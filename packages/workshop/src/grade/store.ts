import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Manifest, StoredResult, SubmissionRecord } from './types.ts';

/**
 * The grader's output folder. Every write is atomic (a temporary file in the same folder,
 * then rename), so an interrupted batch leaves whole results or none, never half a JSON
 * file that --resume would trip over.
 */

export const MANIFEST = 'grade.json';
/** Where git and zip sources are fetched to while they are graded. */
export const SOURCES_DIR = '.sources';
/** The exercises' tests and configuration as the batch graded them (a copy taken at its start). */
export const PRISTINE_DIR = '.pristine';
/** Names a submission id may not take: they are the reports' own. */
export const RESERVED = new Set([MANIFEST, 'gradebook.csv', 'junit.xml', 'index.html', SOURCES_DIR, PRISTINE_DIR]);

export function writeFileAtomic(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined; // a damaged file counts as absent: it is graded again
  }
}

export const resultPath = (out: string, id: string, exercise: string) => join(out, id, `${exercise}.json`);

export function readResult(out: string, id: string, exercise: string): StoredResult | undefined {
  const result = readJson<StoredResult>(resultPath(out, id, exercise));
  return result?.version === 1 && result.submission === id ? result : undefined;
}

export function writeResult(out: string, result: StoredResult): void {
  writeJson(resultPath(out, result.submission, result.exercise.name), result);
}

export function readSubmission(out: string, id: string): SubmissionRecord | undefined {
  return readJson<SubmissionRecord>(join(out, id, 'submission.json'));
}

export function writeSubmission(out: string, record: SubmissionRecord): void {
  writeJson(join(out, record.id, 'submission.json'), record);
}

export function readManifest(out: string): Manifest | undefined {
  const manifest = readJson<Manifest>(join(out, MANIFEST));
  return manifest?.version === 1 ? manifest : undefined;
}

export function writeManifest(out: string, manifest: Manifest): void {
  writeJson(join(out, MANIFEST), manifest);
}
