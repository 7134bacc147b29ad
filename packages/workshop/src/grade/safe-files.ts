import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  type Stats,
} from 'node:fs';
import { basename, join } from 'node:path';

/**
 * Reading a submission without trusting it. A submission is a folder someone else made: it
 * may hold a symbolic link to /etc/passwd (its content would be copied into the run and
 * reach the reports), a link to /dev/stdin (reading it freezes the grader) or /dev/zero
 * (reading it exhausts memory), a FIFO, a 2 GB file, or `src` as a plain file. So:
 *  - a path is looked at with lstat, never stat, and is opened only once lstat said it is
 *    a regular file — and then with O_NOFOLLOW | O_NONBLOCK, and fstat checks again what
 *    was opened (a file swapped for a FIFO in between is neither followed nor waited on);
 *  - a symbolic link, device, FIFO or socket ANYWHERE in an exercise's folder refuses that
 *    exercise, with a message naming the file; it is never followed or read;
 *  - sizes are checked before anything is read: a file, a whole src/ tree and the number of
 *    entries have caps (SUBMISSION_LIMITS);
 *  - files are hashed in chunks, never read whole.
 * What we accept: the submission could still change between the check and the copy of
 * src/ into the run's workspace (a folder being edited during grading); the workspace copy
 * refuses links itself.
 */

/** Folders never read from a submission (dependencies and build output are not code); the workspace copy skips them too. */
export const SKIPPED_DIRS = new Set(['node_modules', '.turbo', 'dist', '.git']);

export interface TreeLimits {
  /** The largest file accepted, in bytes. Default 1 MiB: source files are a few KB. */
  maxFileBytes: number;
  /** All files of the tree together, in bytes. Default 10 MiB. */
  maxTotalBytes: number;
  /** Files and folders in the tree (skipped folders not counted). Default 2,000. */
  maxFiles: number;
}

export const SUBMISSION_LIMITS: TreeLimits = {
  maxFileBytes: 1024 * 1024,
  maxTotalBytes: 10 * 1024 * 1024,
  maxFiles: 2000,
};

/** Limits for a whole exercise folder (tests, configuration): only the number of entries is capped. */
const FOLDER_LIMITS: TreeLimits = {
  maxFileBytes: Number.POSITIVE_INFINITY,
  maxTotalBytes: Number.POSITIVE_INFINITY,
  maxFiles: 5000,
};

export type TreeCheck = { ok: true; files: string[] } | { ok: false; reason: string };

export interface TreeCheckOptions extends Partial<TreeLimits> {
  /** How messages name the tree: `exercises/03-redis-cache-aside/src`. Default: the folder's own name. */
  label?: string;
}

/** Sort by UTF-16 code unit (the code point, for the ASCII slugs ids are), never by locale: the same on every machine. */
export const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** What an entry that is neither a regular file nor a folder is, in words. */
function oddKind(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * Walk `dir` with lstat and check that it holds only regular files and folders, within the
 * limits (by default those of a submitted src/). Returns the files, relative to `dir` and
 * sorted by code point, or the first reason to refuse it, naming the file. A `dir` that does
 * not exist is an empty tree; one that is a plain file or a link is refused. Never follows a
 * link, never opens a file, never throws for what it finds (only for a failing disk).
 */
export function checkSubmittedTree(dir: string, options: TreeCheckOptions = {}): TreeCheck {
  const label = options.label ?? basename(dir);
  try {
    return walkTree(dir, options, label);
  } catch (err) {
    return { ok: false, reason: `${label} could not be read: ${err instanceof Error ? err.message : err}` };
  }
}

function walkTree(dir: string, options: TreeCheckOptions, label: string): TreeCheck {
  const limits = { ...SUBMISSION_LIMITS, ...options };
  const top = lstatOrUndefined(dir);
  if (!top) return { ok: true, files: [] };
  if (top.isSymbolicLink()) return { ok: false, reason: refusedLink(label, dir) };
  if (!top.isDirectory())
    return {
      ok: false,
      reason: `${label} is ${top.isFile() ? 'a file' : oddKind(top)}, not a folder: submit ${label}/ as a folder of source files.`,
    };
  const files: string[] = [];
  let entries = 0;
  let totalBytes = 0;
  const stack: string[] = [''];
  while (stack.length > 0) {
    const rel = stack.pop() as string;
    let names: string[];
    try {
      names = readdirSync(join(dir, rel));
    } catch (err) {
      return {
        ok: false,
        reason: `${label}/${rel} could not be read (${(err as NodeJS.ErrnoException).code ?? err}).`,
      };
    }
    for (const name of names.sort(byCodePoint)) {
      const relPath = rel ? `${rel}/${name}` : name;
      const shown = `${label}/${relPath}`;
      const st = lstatOrUndefined(join(dir, relPath));
      if (!st) continue; // removed while we looked
      if (st.isDirectory() && SKIPPED_DIRS.has(name)) continue;
      if (++entries > limits.maxFiles)
        return {
          ok: false,
          reason: `${label} holds more than ${limits.maxFiles.toLocaleString('en-US')} files and folders: submit the source files only (no dependencies, no build output).`,
        };
      if (st.isSymbolicLink()) return { ok: false, reason: refusedLink(shown, join(dir, relPath)) };
      if (st.isDirectory()) {
        stack.push(relPath);
        continue;
      }
      if (!st.isFile())
        return {
          ok: false,
          reason: `${shown} is ${oddKind(st)}: a submission may hold only regular files and folders. It was not read.`,
        };
      if (st.size > limits.maxFileBytes)
        return {
          ok: false,
          reason: `${shown} is ${formatBytes(st.size)}; a submitted file may be at most ${formatBytes(limits.maxFileBytes)}. It was not read.`,
        };
      totalBytes += st.size;
      if (totalBytes > limits.maxTotalBytes)
        return {
          ok: false,
          reason: `${label} holds more than ${formatBytes(limits.maxTotalBytes)} of files; submit the source files only.`,
        };
      files.push(relPath);
    }
  }
  return { ok: true, files: files.sort(byCodePoint) };
}

function refusedLink(shown: string, path: string): string {
  let target = '';
  try {
    target = ` (to ${readlinkSync(path)})`;
  } catch {
    // unreadable target: name the link alone
  }
  return `${shown} is a symbolic link${target}: a submission may hold only regular files and folders. It was not followed.`;
}

/**
 * Check the submitted copy of an exercise (`exercises/<name>/` of a submission) before
 * anything of it is read:
 *  1. the folder itself is a real folder (not a link, not a file);
 *  2. everything in it — src/, test/, configuration, anything — is a regular file or a
 *     folder (skipped folders such as node_modules aside), and there are not too many;
 *  3. its src/ is a folder within SUBMISSION_LIMITS; test/ is a folder when present.
 * Returns the files of src/ (relative to it), or the reason to refuse the exercise.
 */
export function checkExerciseFolder(
  exerciseDir: string,
  name: string,
  limits: Partial<TreeLimits> = {},
): { ok: true; srcFiles: string[] } | { ok: false; reason: string } {
  const label = `exercises/${name}`;
  try {
    if (!lstatOrUndefined(exerciseDir)) return { ok: true, srcFiles: [] };
    const whole = checkSubmittedTree(exerciseDir, { ...FOLDER_LIMITS, label });
    if (!whole.ok) return whole;
    const test = lstatOrUndefined(join(exerciseDir, 'test'));
    if (test && !test.isDirectory())
      return {
        ok: false,
        reason: `${label}/test is a file, not a folder: the exercise's tests are a folder (test/), and a submission's copy of them is only compared with the pristine one.`,
      };
    const src = checkSubmittedTree(join(exerciseDir, 'src'), { ...limits, label: `${label}/src` });
    return src.ok ? { ok: true, srcFiles: src.files } : src;
  } catch (err) {
    return { ok: false, reason: `${label} could not be read: ${err instanceof Error ? err.message : err}` };
  }
}

const NO_FOLLOW = (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * Open `path` for reading only if it is a regular file: O_NOFOLLOW refuses a link, O_NONBLOCK
 * keeps a FIFO from blocking the open, and fstat checks what was opened. Undefined otherwise.
 */
function openRegular(path: string): { fd: number; size: number } | undefined {
  const st = lstatOrUndefined(path);
  if (!st?.isFile()) return undefined;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | NO_FOLLOW);
  } catch {
    return undefined;
  }
  const opened = fstatSync(fd);
  if (!opened.isFile()) {
    closeSync(fd);
    return undefined;
  }
  return { fd, size: opened.size };
}

const CHUNK = 64 * 1024;

/**
 * sha256 of a regular file with CRLF turned into LF (a Windows checkout is not "modified"),
 * read in 64 KB chunks; undefined when `path` is not a regular file (a link is not followed).
 */
export function safeFileSha256(path: string): string | undefined {
  const file = openRegular(path);
  if (!file) return undefined;
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(CHUNK);
  let carriedCr = false;
  try {
    for (;;) {
      const n = readSync(file.fd, buffer, 0, CHUNK, null);
      if (n === 0) break;
      let text = buffer.toString('latin1', 0, n);
      if (carriedCr) text = `\r${text}`;
      carriedCr = text.endsWith('\r');
      if (carriedCr) text = text.slice(0, -1);
      hash.update(Buffer.from(text.replace(/\r\n/g, '\n'), 'latin1'));
    }
    if (carriedCr) hash.update(Buffer.from('\r', 'latin1'));
  } catch {
    return undefined;
  } finally {
    closeSync(file.fd);
  }
  return hash.digest('hex');
}

export type SafeText = { ok: true; text: string } | { ok: false; size: number | undefined };

/**
 * The text of a regular file of at most `maxBytes` (CRLF as LF), or its size when larger;
 * never follows a link, never reads a device or a FIFO (size undefined then).
 */
export function readSmallText(path: string, maxBytes: number): SafeText {
  const file = openRegular(path);
  if (!file) return { ok: false, size: undefined };
  try {
    if (file.size > maxBytes) return { ok: false, size: file.size };
    const buffer = Buffer.alloc(file.size);
    let read = 0;
    while (read < file.size) {
      const n = readSync(file.fd, buffer, read, file.size - read, null);
      if (n === 0) break;
      read += n;
    }
    return { ok: true, text: buffer.toString('utf8', 0, read).replace(/\r\n/g, '\n') };
  } catch {
    return { ok: false, size: undefined };
  } finally {
    closeSync(file.fd);
  }
}

/** The regular files under `dir` (relative, sorted by code point), skipping SKIPPED_DIRS; links and odd entries are left out, never followed. */
export function listRegularFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(join(dir, rel));
    } catch {
      return;
    }
    for (const name of names) {
      const relPath = rel ? `${rel}/${name}` : name;
      const st = lstatOrUndefined(join(dir, relPath));
      if (!st) continue;
      if (st.isDirectory()) {
        if (!SKIPPED_DIRS.has(name)) walk(relPath);
      } else if (st.isFile()) out.push(relPath);
    }
  };
  const top = lstatOrUndefined(dir);
  if (top?.isDirectory()) walk('');
  return out.sort(byCodePoint);
}

/** True when `path` is a real folder (lstat: a link to a folder is not). */
export function isRealDirectory(path: string): boolean {
  return lstatOrUndefined(path)?.isDirectory() ?? false;
}

/** True when `path` is a regular file (lstat: a link to a file is not). */
export function isRegularFile(path: string): boolean {
  return lstatOrUndefined(path)?.isFile() ?? false;
}

/** True when something (anything, even a dangling link) is at `path`. */
export function existsNoFollow(path: string): boolean {
  return lstatOrUndefined(path) !== undefined;
}
