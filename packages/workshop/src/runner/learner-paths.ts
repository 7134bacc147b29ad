import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { Exercise } from '../repo.ts';
import { REPO_ROOT } from '../repo.ts';

/**
 * A run happens in a copy (workspace.ts): `.cachelab/runs/verify-01-9a07c4/01-validate-input/`.
 * Nobody edits that copy, so no message may send a person there. These turn the copy's
 * paths back into the ones a person opens: the src/ that was tested as the learner (or the
 * student, or the maintainer) knows it, and the exercise's own files for the rest.
 */

export interface PathMap {
  /** The run's workspace (absolute). */
  workspace: string;
  /** How the tested src/ is shown: `exercises/01-validate-input/src`. */
  src: string;
  /** How the exercise's own folder is shown (its tests): `exercises/01-validate-input`. */
  exercise: string;
}

/**
 * How to show the src/ a run tests: `exercises/NN-slug/src` when it sits in a folder laid out
 * like the repository (the learner's clone or copy, a student's submission), else its path
 * from the repository (`solutions/NN-slug/src`), else the path itself.
 */
export function srcShownAs(srcDir: string, exercise: Exercise): string {
  const parts = srcDir.split(sep).filter(Boolean);
  const [exercises, name, src] = parts.slice(-3);
  if (exercises === 'exercises' && name === exercise.name && src === 'src') return `exercises/${exercise.name}/src`;
  const inRepo = relative(REPO_ROOT, srcDir);
  return inRepo && !inRepo.startsWith('..') ? inRepo : srcDir;
}

export function pathMap(workspace: string, srcDir: string, exercise: Exercise): PathMap {
  const inRepo = relative(REPO_ROOT, exercise.dir);
  return {
    workspace,
    src: srcShownAs(srcDir, exercise),
    exercise: inRepo && !inRepo.startsWith('..') ? inRepo : exercise.dir,
  };
}

/** Every path into the workspace in `text` (plain or file:// URL), as a person knows it. */
export function toLearnerPaths(text: string, map: PathMap): string {
  if (!text.includes(map.workspace)) return text;
  let out = text;
  for (const prefix of [`file://${map.workspace}`, map.workspace]) {
    out = out.split(`${prefix}/src/`).join(`${map.src}/`);
    out = out.split(`${prefix}/`).join(`${map.exercise}/`);
    out = out.split(prefix).join(map.exercise);
  }
  return out;
}

/**
 * vite says "Cannot find package 'x/y' imported from …" for a package that is not there and,
 * just the same, for a subpath the package does not export. Say which one it is: for a
 * missing subpath, what the package does export (and the nearest one); for a missing
 * package, the exercise's dependency of the nearest name. Undefined when `message` is not
 * that error.
 */
export function explainMissingPackage(message: string, exercise: Exercise): string | undefined {
  const m = /Cannot find package '([^']+)'(?: imported from (\S+))?/.exec(message);
  if (!m) return undefined;
  const specifier = m[1] as string;
  const from = m[2] ? ` (imported from ${m[2]})` : '';
  const segments = specifier.split('/');
  const name = specifier.startsWith('@') ? segments.slice(0, 2).join('/') : (segments[0] as string);
  const subpath = specifier.slice(name.length);
  const manifest = readPackageJson(join(REPO_ROOT, 'node_modules', name));
  if (manifest && subpath) {
    const exported = exportedSpecifiers(name, manifest);
    const nearest = closest(specifier, exported);
    const list = exported.length > 12 ? [...exported.slice(0, 12), '…'] : exported;
    return `'${specifier}' cannot be imported${from}: the package ${name} is installed, but it has no subpath '.${subpath}'.${
      nearest ? ` Did you mean '${nearest}'?` : ''
    }${list.length > 0 ? ` It exports: ${list.join(', ')}.` : ''}`;
  }
  if (manifest) return undefined;
  const dependencies = exerciseDependencies(exercise, ['dependencies']);
  const nearest = closest(name, exerciseDependencies(exercise, ['dependencies', 'devDependencies']));
  return `There is no package '${name}'${from}: it is not installed.${
    nearest ? ` Did you mean '${nearest}'?` : ''
  }${dependencies.length > 0 ? ` The exercise's dependencies: ${dependencies.join(', ')}.` : ''}`;
}

function readPackageJson(dir: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function exerciseDependencies(exercise: Exercise, fields: string[]): string[] {
  const manifest = readPackageJson(exercise.dir) ?? {};
  const names = new Set<string>();
  for (const field of fields)
    for (const dep of Object.keys((manifest[field] as Record<string, string> | undefined) ?? {})) names.add(dep);
  return [...names].sort();
}

/** The target of an exports entry: a path, or the first path among its conditions. */
function exportTarget(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(exportTarget).find(Boolean);
  if (value && typeof value === 'object') {
    const conditions = value as Record<string, unknown>;
    for (const key of ['import', 'default', 'node', ...Object.keys(conditions)]) {
      const target = exportTarget(conditions[key]);
      if (target) return target;
    }
  }
  return undefined;
}

/** Every specifier the package's `exports` allow, a `*` pattern expanded over its files. */
function exportedSpecifiers(name: string, manifest: Record<string, unknown>): string[] {
  const exports = manifest.exports;
  if (exports === undefined) return [];
  const entries: [string, unknown][] =
    typeof exports === 'object' &&
    exports !== null &&
    !Array.isArray(exports) &&
    Object.keys(exports)[0]?.startsWith('.')
      ? Object.entries(exports)
      : [['.', exports]];
  const dir = join(REPO_ROOT, 'node_modules', name);
  const out: string[] = [];
  for (const [key, value] of entries) {
    const target = exportTarget(value);
    if (!target) continue;
    if (!key.includes('*')) {
      out.push(key === '.' ? name : `${name}/${key.slice(2)}`);
      continue;
    }
    const [before, after = ''] = target.split('*') as [string, string?];
    const base = join(dir, before.slice(0, before.lastIndexOf('/') + 1));
    const namePrefix = before.slice(before.lastIndexOf('/') + 1);
    for (const file of listRecursively(base)) {
      if (!file.startsWith(namePrefix) || !file.endsWith(after) || /\.(test|d)\.[cm]?ts$/.test(file)) continue;
      const star = file.slice(namePrefix.length, file.length - after.length);
      out.push(`${name}/${key.slice(2).replace('*', star)}`);
    }
  }
  return [...new Set(out)].sort();
}

function listRecursively(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = relative(dir, join(entry.parentPath, entry.name));
    if (!path.split(sep).includes('node_modules')) out.push(path.split(sep).join('/'));
  }
  return out;
}

/** The candidate nearest to `word` by edit distance, if it is near enough to be a typo. */
function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 8)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    previous = current;
  }
  return previous[b.length] as number;
}
