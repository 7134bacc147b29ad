import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { UserError } from '../output.ts';
import { byCodePoint, existsNoFollow, formatBytes, isRealDirectory, listRegularFiles } from './safe-files.ts';
import { RESERVED, SOURCES_DIR } from './store.ts';
import type { SubmissionRecord } from './types.ts';

const exec = promisify(execFile);

/**
 * A submission is what a student hands in, in any of these forms:
 *  - a folder: a clone of the workshop, a fork's working tree, an extracted zip (even one
 *    with a single top-level folder inside, as GitHub's "Download ZIP" makes);
 *  - a .zip file, extracted into the output folder;
 *  - a git URL (https://, ssh://, git://, file://, git@host:path) or a bare repository
 *    folder (name.git), cloned with `--depth 1` into the output folder.
 * Only `exercises/<name>/src/` is taken from it; tests and configuration come from the
 * instructor's pristine copy.
 */
export interface Submission {
  /** Stable across runs: derived from the folder or repository name, unique in the batch. */
  id: string;
  /** As given (a folder is made absolute). */
  source: string;
  kind: SubmissionRecord['kind'];
}

const GIT_URL = /^(?:(?:https?|ssh|git|file):\/\/|[\w.-]+@[\w.-]+:)/;
/** Folders that are not the submission itself when a zip holds one top-level folder. */
const NOISE = /^(?:__MACOSX|\..*)$/;
const CLONE_TIMEOUT_MS = 180_000;
/** A zip that would extract to more than this is refused before extraction (a zip bomb, a zip of node_modules). */
export const MAX_ZIP_BYTES = 200 * 1024 * 1024;

function isBareRepository(dir: string): boolean {
  return existsSync(join(dir, 'HEAD')) && existsSync(join(dir, 'objects')) && existsSync(join(dir, 'refs'));
}

/** The kind of a source, and the absolute form of a local one; throws when a path does not exist. */
function classify(arg: string, cwd: string): { source: string; kind: Submission['kind'] } {
  if (GIT_URL.test(arg)) return { source: arg, kind: 'git' };
  const path = resolve(cwd, arg);
  if (!existsSync(path))
    throw new UserError(
      `Can't find the submission "${arg}": no such folder or file (looked in ${path}). Pass a folder, a .zip or a git URL.`,
      2,
    );
  if (statSync(path).isFile()) {
    if (/\.zip$/i.test(path)) return { source: path, kind: 'zip' };
    throw new UserError(`"${arg}" is a file, not a submission: pass a folder, a .zip or a git URL.`, 2);
  }
  return { source: path, kind: isBareRepository(path) ? 'git' : 'folder' };
}

/** The path segments that can name a submission, innermost last: "…/alice/cachelab.git" → [.., "alice", "cachelab"]. */
function nameSegments(source: string): string[] {
  const path = source
    .replace(/^[\w.-]+@[\w.-]+:/, '') // git@host:owner/repo
    .replace(/^[a-z]+:\/\/[^/]*/i, '') // scheme://host
    .replace(/[?#].*$/, '');
  return path
    .split(/[\\/]+/)
    .map((s) => s.replace(/\.(git|zip)$/i, ''))
    .filter((s) => s.length > 0);
}

export function slugify(text: string): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 60);
  return slug || 'submission';
}

/**
 * Turn the command line's sources into submissions with ids:
 *  - the id is the folder's (or repository's) name, slugified: `alice`;
 *  - names that collide take their parent folders until they differ: `alice-cachelab`,
 *    `bob-cachelab`; as a last resort a short hash of the source;
 *  - the same source given twice is one submission.
 * Deterministic: the same sources give the same ids whatever their order. Sorted by id.
 */
export function resolveSubmissions(args: string[], cwd: string = process.cwd()): Submission[] {
  const bySource = new Map<string, Submission['kind']>();
  for (const arg of args) {
    const { source, kind } = classify(arg, cwd);
    bySource.set(source, kind);
  }
  const entries = [...bySource].map(([source, kind]) => ({ source, kind, segments: nameSegments(source), depth: 1 }));
  const idOf = (e: (typeof entries)[number]) => {
    const id = slugify(e.segments.slice(-e.depth).join('-'));
    return RESERVED.has(id) ? `${id}-submission` : id;
  };
  for (let round = 0; round < 64; round++) {
    const groups = new Map<string, typeof entries>();
    for (const e of entries) groups.set(idOf(e), [...(groups.get(idOf(e)) ?? []), e]);
    const clashes = [...groups.values()].filter((g) => g.length > 1);
    if (clashes.length === 0) break;
    let grew = false;
    for (const group of clashes) {
      for (const e of group) {
        if (e.depth < e.segments.length) {
          e.depth++;
          grew = true;
        }
      }
    }
    if (!grew) break;
  }
  const count = new Map<string, number>();
  for (const e of entries) count.set(idOf(e), (count.get(idOf(e)) ?? 0) + 1);
  return entries
    .map((e) => {
      const id = idOf(e);
      const unique =
        (count.get(id) ?? 0) > 1
          ? `${id.slice(0, 52)}-${createHash('sha256').update(e.source).digest('hex').slice(0, 7)}`
          : id;
      return { id: unique, source: e.source, kind: e.kind };
    })
    .sort((a, b) => compareIds(a.id, b.id));
}

/**
 * The one order of submission ids, for shards and merges: by code point, never by locale
 * (localeCompare differs between machines and ICU versions, and two machines cutting shards
 * from differently sorted lists would grade some submissions twice and others never).
 */
export const compareIds = byCodePoint;

/** A deterministic slice for `--shard i/n`: every n-th submission by sorted id, starting at the i-th. */
export function shardSlice<T extends { id: string }>(items: T[], shard: { index: number; count: number } | null): T[] {
  if (!shard) return items;
  return [...items].sort((a, b) => compareIds(a.id, b.id)).filter((_, i) => i % shard.count === shard.index - 1);
}

export interface FetchedSubmission {
  record: SubmissionRecord;
  /** The folder that holds `<exercise>/src/` (the submission's exercises/), or undefined. */
  exercisesDir: string | undefined;
  /**
   * Why the submission's exercises cannot be read at all (its exercises/ is a symbolic link):
   * every exercise is refused with this message. A refusal, not a failure of the grader.
   */
  refused?: string;
  /** Remove what was fetched (clones, extracted zips); folders are left alone. */
  cleanup(): void;
}

/**
 * Make a submission's files available locally: a folder as it is, a git source cloned
 * (`--depth 1`, no prompt for credentials, no LFS download), a zip extracted. Never throws:
 * a source that cannot be fetched comes back with `record.error`, and its exercises score 0.
 */
export async function fetchSubmission(
  submission: Submission,
  out: string,
  exerciseNames: string[],
): Promise<FetchedSubmission> {
  const record: SubmissionRecord = { id: submission.id, source: submission.source, kind: submission.kind };
  if (submission.kind === 'folder') {
    try {
      return { record, ...located(submission.source, exerciseNames), cleanup() {} };
    } catch (err) {
      record.error = `Could not read ${submission.source}: ${err instanceof Error ? err.message : err}`;
      return { record, exercisesDir: undefined, cleanup() {} };
    }
  }
  const dest = join(out, SOURCES_DIR, submission.id);
  const cleanup = () => rmSync(dest, { recursive: true, force: true });
  cleanup();
  mkdirSync(join(out, SOURCES_DIR), { recursive: true });
  try {
    if (submission.kind === 'git') {
      // A local bare repository is cloned through file:// so that --depth applies.
      const url = GIT_URL.test(submission.source) ? submission.source : `file://${submission.source}`;
      await exec('git', ['clone', '--depth', '1', '--quiet', '--no-tags', '--', url, dest], {
        timeout: CLONE_TIMEOUT_MS,
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_LFS_SKIP_SMUDGE: '1', GIT_ASKPASS: 'echo' },
      });
      const { stdout } = await exec('git', ['-C', dest, 'rev-parse', 'HEAD']);
      record.commit = stdout.trim();
    } else {
      // The central directory's totals first: "5 files, 130 bytes uncompressed, …".
      const { stdout } = await exec('unzip', ['-Zt', submission.source], { timeout: CLONE_TIMEOUT_MS });
      const bytes = Number(/(\d+) bytes uncompressed/.exec(stdout)?.[1] ?? 0);
      if (bytes > MAX_ZIP_BYTES) {
        record.error = `Did not extract ${submission.source}: it would extract to ${formatBytes(bytes)}, more than the ${formatBytes(MAX_ZIP_BYTES)} a submission may hold.`;
        cleanup();
        return { record, exercisesDir: undefined, cleanup };
      }
      try {
        await exec('unzip', ['-q', '-o', submission.source, '-d', dest], { timeout: CLONE_TIMEOUT_MS });
      } catch (err) {
        // Exit code 1 is unzip's "warning": the files were extracted, with something to say
        // (backslashes as path separators, as some Windows tools write). Keep what came out.
        const e = err as { code?: unknown; killed?: boolean };
        if (!(e.code === 1 && !e.killed && listRegularFiles(dest).length > 0)) throw err;
      }
    }
  } catch (err) {
    record.error = `Could not ${submission.kind === 'git' ? 'clone' : 'extract'} ${submission.source}: ${fetchFailure(err, submission.kind)}`;
    cleanup();
    return { record, exercisesDir: undefined, cleanup };
  }
  try {
    return { record, ...located(dest, exerciseNames), cleanup };
  } catch (err) {
    record.error = `Could not read ${submission.source} once fetched: ${err instanceof Error ? err.message : err}`;
    return { record, exercisesDir: undefined, cleanup };
  }
}

/**
 * What went wrong with a clone or an extraction, in the tool's own words: git's `fatal:` /
 * `remote:` / `error:` lines (not its last line, "and the repository exists."), unzip's
 * first line of complaint.
 */
export function fetchFailure(err: unknown, kind: Submission['kind']): string {
  const e = err as {
    stderr?: string;
    stdout?: string;
    message?: string;
    code?: unknown;
    killed?: boolean;
    signal?: string;
  };
  if (e.code === 'ENOENT') return `\`${kind === 'git' ? 'git' : 'unzip'}\` is not installed`;
  if (e.killed) return `it took longer than ${CLONE_TIMEOUT_MS / 1000} s and was stopped`;
  // git says what went wrong on stderr; unzip's listing mode (-Zt) says it on stdout.
  const lines = (`${e.stderr ?? ''}\n${e.stdout ?? ''}`.trim() || e.message || String(err))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Command failed:/.test(l) && !/^\[.*\]$/.test(l));
  if (kind === 'zip' && lines.some((l) => /End-of-central-directory signature not found/.test(l)))
    return 'it is not a zip file, or it is damaged (unzip found no central directory)';
  const telling = [
    lines.find((l) => /^remote:\s*\S/.test(l) && !/^remote:\s*(Enumerating|Counting|Compressing|Total)\b/.test(l)),
    lines.find((l) => /^(fatal|error):/.test(l)),
  ].filter((l): l is string => l !== undefined);
  if (telling.length > 0) return telling.join(' — ');
  return lines[0] ?? `exit code ${String(e.code ?? e.signal ?? 'unknown')}`;
}

/** locateExercises, refusing an exercises/ folder that is a symbolic link. */
function located(dir: string, exerciseNames: string[]): { exercisesDir: string | undefined; refused?: string } {
  const exercisesDir = locateExercises(dir, exerciseNames);
  if (exercisesDir === undefined) {
    const link = ['exercises', ...exerciseNames].find(
      (n) => existsNoFollow(join(dir, n)) && !isRealDirectory(join(dir, n)),
    );
    if (link === 'exercises')
      return {
        exercisesDir: undefined,
        refused:
          'exercises/ is not a folder (a symbolic link or a file): a submission may hold only regular files and folders. It was not followed.',
      };
  }
  return { exercisesDir };
}

/**
 * Where a submission keeps its exercises: `<dir>/exercises`; or `<dir>` itself when it holds
 * exercise folders directly; or the same inside `<dir>`'s only folder (a zip of a folder),
 * whatever stray files lie beside that folder (NOTES.txt, __MACOSX/, .DS_Store). Only real
 * folders count: a symbolic link is never followed (lstat).
 */
export function locateExercises(dir: string, exerciseNames: string[]): string | undefined {
  const inside = (d: string) => {
    if (isRealDirectory(join(d, 'exercises'))) return join(d, 'exercises');
    if (exerciseNames.some((n) => existsNoFollow(join(d, n)))) return d;
    return undefined;
  };
  const here = inside(dir);
  if (here) return here;
  if (existsNoFollow(join(dir, 'exercises'))) return undefined; // exercises/ is a link or a file
  let folders: string[];
  try {
    folders = readdirSync(dir).filter((name) => !NOISE.test(name) && isRealDirectory(join(dir, name)));
  } catch {
    return undefined;
  }
  return folders.length === 1 ? inside(join(dir, folders[0] as string)) : undefined;
}

/** "alice" for a folder, the URL for a git source: how a person recognises a submission. */
export function shortSource(source: string, cwd: string = process.cwd()): string {
  if (GIT_URL.test(source)) return source;
  const rel = source.startsWith(`${cwd}/`) ? source.slice(cwd.length + 1) : source;
  return rel || basename(source);
}
