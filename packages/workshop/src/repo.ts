import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The workshop's root folder (the one with the root package.json). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');

/**
 * Local, git-ignored state: progress, hint counters, run workspaces, embedded services.
 * `CACHELAB_STATE_DIR` moves it (tests use that to keep their state apart). Run workspaces
 * must stay inside the repository so that module resolution finds node_modules.
 */
export const STATE_DIR = process.env.CACHELAB_STATE_DIR || join(REPO_ROOT, '.cachelab');

/**
 * What `cachelab --version` prints. The workshop is a clone, not a release (every package is
 * 0.0.0), so its version is the commit the clone is at, read from `.git` without running git
 * (this runs on every start); and Node's, the other thing a bug report needs.
 */
export function workshopVersion(root: string = REPO_ROOT): string {
  const commit = gitCommit(root);
  return `cachelab ${commit ? `commit ${commit}` : '(not a git clone)'}, Node.js ${process.version}`;
}

/** The short id of the commit checked out in `root`: `.git` a folder or (a worktree) a `gitdir:` file. */
function gitCommit(root: string): string | undefined {
  try {
    let gitDir = join(root, '.git');
    if (statSync(gitDir).isFile())
      gitDir = resolve(
        root,
        readFileSync(gitDir, 'utf8')
          .replace(/^gitdir:/, '')
          .trim(),
      );
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return head.slice(0, 7);
    const ref = head.slice('ref: '.length);
    // A worktree keeps its HEAD apart and the branches in the main clone's folder.
    const common = existsSync(join(gitDir, 'commondir'))
      ? resolve(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').trim())
      : gitDir;
    for (const dir of [gitDir, common]) {
      if (existsSync(join(dir, ref))) return readFileSync(join(dir, ref), 'utf8').trim().slice(0, 7);
    }
    const packed = readFileSync(join(common, 'packed-refs'), 'utf8')
      .split('\n')
      .find((line) => line.endsWith(` ${ref}`));
    return packed?.slice(0, 7);
  } catch {
    return undefined;
  }
}

const FOLDER = /^(\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)$/;

export interface Lesson {
  /** Two digits, the order: '01'. */
  id: string;
  slug: string;
  /** `01-uncached` */
  name: string;
  title: string;
  dir: string;
}

export interface Exercise {
  id: string;
  slug: string;
  name: string;
  title: string;
  /** The lesson it belongs to ('02'). */
  lesson: string;
  points: number;
  timeoutSeconds: number;
  dir: string;
  /** `solutions/<name>` (may not exist: `cachelab check` reports it). */
  solutionDir: string;
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

function folders(parent: string): { id: string; slug: string; name: string; dir: string }[] {
  if (!existsSync(parent)) return [];
  return readdirSync(parent, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => {
      const m = FOLDER.exec(d.name);
      return m ? [{ id: m[1] as string, slug: m[2] as string, name: d.name, dir: join(parent, d.name) }] : [];
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

function titleFromReadme(dir: string, fallback: string): string {
  const readme = join(dir, 'README.md');
  if (!existsSync(readme)) return fallback;
  const heading = /^#\s+(.+)$/m.exec(readFileSync(readme, 'utf8'));
  return heading?.[1]?.trim() ?? fallback;
}

export function listLessons(root: string = REPO_ROOT): Lesson[] {
  return folders(join(root, 'lessons')).map((f) => {
    const meta = existsSync(join(f.dir, 'package.json')) ? readJson(join(f.dir, 'package.json')) : {};
    const cachelab = (meta.cachelab ?? {}) as { title?: string };
    return { ...f, title: cachelab.title ?? titleFromReadme(f.dir, f.slug) };
  });
}

export function listExercises(root: string = REPO_ROOT): Exercise[] {
  return folders(join(root, 'exercises')).map((f) => {
    const meta = existsSync(join(f.dir, 'package.json')) ? readJson(join(f.dir, 'package.json')) : {};
    const c = (meta.cachelab ?? {}) as { title?: string; lesson?: string; points?: number; timeoutSeconds?: number };
    return {
      ...f,
      title: c.title ?? titleFromReadme(f.dir, f.slug),
      lesson: c.lesson ?? '',
      points: typeof c.points === 'number' ? c.points : 10,
      timeoutSeconds: typeof c.timeoutSeconds === 'number' ? c.timeoutSeconds : 120,
      solutionDir: join(root, 'solutions', f.name),
    };
  });
}

/** Find an exercise by '02', '2', '002', '02-memoize-payments' or 'memoize-payments'. */
export function findExercise(query: string, root: string = REPO_ROOT): Exercise | undefined {
  return findIn(listExercises(root), query);
}

export function findLesson(query: string, root: string = REPO_ROOT): Lesson | undefined {
  return findIn(listLessons(root), query);
}

function findIn<T extends { id: string; slug: string; name: string }>(items: T[], query: string): T | undefined {
  const q = query.trim().toLowerCase();
  // A number as people type it: '5', '05' and '005' are all exercise 05.
  const padded = /^\d+$/.test(q) ? q.replace(/^0+(?=\d)/, '').padStart(2, '0') : q;
  return items.find((i) => i.id === padded || i.name === q || i.slug === q);
}
