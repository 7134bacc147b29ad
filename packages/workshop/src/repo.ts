import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The workshop's root folder (the one with the root package.json). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');

/**
 * Local, git-ignored state: progress, hint counters, run workspaces, embedded services.
 * `CACHELAB_STATE_DIR` moves it (tests use that to keep their state apart). Run workspaces
 * must stay inside the repository so that module resolution finds node_modules.
 */
export const STATE_DIR = process.env.CACHELAB_STATE_DIR || join(REPO_ROOT, '.cachelab');

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

/** Find an exercise by '02', '2', '02-memoize-payments' or 'memoize-payments'. */
export function findExercise(query: string, root: string = REPO_ROOT): Exercise | undefined {
  return findIn(listExercises(root), query);
}

export function findLesson(query: string, root: string = REPO_ROOT): Lesson | undefined {
  return findIn(listLessons(root), query);
}

function findIn<T extends { id: string; slug: string; name: string }>(items: T[], query: string): T | undefined {
  const q = query.trim().toLowerCase();
  const padded = /^\d+$/.test(q) ? q.padStart(2, '0') : q;
  return items.find((i) => i.id === padded || i.name === q || i.slug === q);
}
