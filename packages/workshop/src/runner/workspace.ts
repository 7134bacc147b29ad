import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import type { Exercise } from '../repo.ts';
import { REPO_ROOT } from '../repo.ts';

/** Where run workspaces live: inside the repository, so module resolution finds node_modules. */
export const RUNS_DIR = join(REPO_ROOT, '.cachelab', 'runs');
/** Where a learner's runs keep vitest's transformed modules between runs (verify, watch). */
export const MODULE_CACHE_DIR = join(REPO_ROOT, '.cachelab', 'vitest-cache');

/** Never copied from a submission's src/: dependencies and build output are not code. */
const SKIPPED = new Set(['node_modules', '.turbo', 'dist', '.git']);

export interface Workspace {
  dir: string;
  dispose(): void;
}

/**
 * Build the folder a run happens in: everything from the PRISTINE exercise except src/,
 * then src/ from `srcDir` (the learner's folder, a solution, or a student's submission).
 * Tests, package.json and configuration therefore always come from the instructor's copy.
 */
export function prepareWorkspace(
  exercise: Exercise,
  srcDir: string,
  label: string,
  options: { stable?: boolean } = {},
): Workspace {
  const safeLabel = label.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
  const dir = (options.stable && claimStableFolder(safeLabel, exercise)) || randomFolder(safeLabel, exercise);
  for (const entry of readdirSync(exercise.dir)) {
    if (entry === 'src' || SKIPPED.has(entry)) continue;
    cpSync(join(exercise.dir, entry), join(dir, entry), { recursive: true });
  }
  // The exercise's tsconfig extends ../../tsconfig.base.json, which is not two levels up from
  // here: point the workspace's copy at the same base by absolute path.
  writeFileSync(
    join(dir, 'tsconfig.json'),
    `${JSON.stringify({ extends: join(REPO_ROOT, 'tsconfig.base.json'), include: ['src', 'test'] }, null, 2)}\n`,
  );
  if (existsSync(srcDir) && statSync(srcDir).isDirectory()) {
    cpSync(srcDir, join(dir, 'src'), {
      recursive: true,
      filter: (source) => {
        if (
          relative(srcDir, source)
            .split(/[\\/]/)
            .some((part) => SKIPPED.has(part))
        )
          return false;
        // Only regular files and folders: a link would be followed inside the run (the
        // grader checks submissions before this; this is the last line).
        const stat = lstatSync(source);
        if (!stat.isFile() && !stat.isDirectory())
          throw new Error(`${relative(srcDir, source)} is not a regular file or folder: refused`);
        return true;
      },
    });
  }
  // Readable by the run's own uid in the sandbox, whatever modes the submission came with
  // (a zip's entries can carry mode 0): folders 0755, files 0644, read-only to nobody else.
  const open = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) {
        chmodSync(full, 0o755);
        open(full);
      } else if (entry.isFile()) chmodSync(full, 0o644);
    }
  };
  chmodSync(dir, 0o755);
  open(dir);
  return {
    dir,
    dispose() {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    },
  };
}

function randomFolder(safeLabel: string, exercise: Exercise): string {
  const dir = join(RUNS_DIR, `${safeLabel}-${randomBytes(3).toString('hex')}`, exercise.name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * The same folder for every run with this label (`verify-05`), so that vitest's module cache,
 * whose keys include the root folder, finds this run's modules from the last one. Taken by
 * creating it (atomic), with this process's pid inside; a folder left by a process that is
 * gone is taken over, one in use by a live process (a `watch` and a `verify` at once) is
 * not: the run then gets a folder of its own. Undefined when not taken.
 */
function claimStableFolder(safeLabel: string, exercise: Exercise): string | undefined {
  const top = join(RUNS_DIR, safeLabel);
  const owner = join(top, '.owner');
  mkdirSync(RUNS_DIR, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      mkdirSync(top);
    } catch {
      if (!existsSync(owner)) {
        // Just created by another run that has not written its pid yet, or left half-made
        // by a crash long ago.
        if (Date.now() - statSync(top).mtimeMs < 60_000) return undefined;
      } else {
        const pid = Number(readFileSync(owner, 'utf8'));
        if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return undefined;
      }
      rmSync(top, { recursive: true, force: true });
      continue;
    }
    writeFileSync(owner, String(process.pid));
    const dir = join(top, exercise.name);
    mkdirSync(dir, { recursive: true });
    return dir;
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Files (relative paths) under `dir`, sorted; [] when it does not exist. */
export function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (SKIPPED.has(e.name)) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}
