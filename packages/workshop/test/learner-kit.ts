import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../src/repo.ts';

/**
 * The learner's side of the workshop, for tests: a state folder of its own inside the
 * repository's `.cachelab/` (progress, hints, backups) and a COPY of the exercises the
 * learner edits (CACHELAB_LEARNER_ROOT), so that no test ever touches exercises/*∕src.
 */
const exec = promisify(execFile);
export const BIN = join(REPO_ROOT, 'packages/workshop/bin/cachelab.js');

export interface Learner {
  state: string;
  root: string;
  env: NodeJS.ProcessEnv;
  /** exercises/<name>/src in the learner's copy. */
  src(name: string): string;
  /** Copy exercises/<name>/src (the starter) into the learner's copy. */
  checkout(name: string): void;
  dispose(): void;
}

export function createLearner(tag: string): Learner {
  const state = join(REPO_ROOT, '.cachelab', `test-${tag}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  const root = join(state, 'learner');
  mkdirSync(root, { recursive: true });
  const src = (name: string) => join(root, 'exercises', name, 'src');
  return {
    state,
    root,
    env: { CACHELAB_STATE_DIR: state, CACHELAB_LEARNER_ROOT: root },
    src,
    checkout(name) {
      rmSync(src(name), { recursive: true, force: true });
      cpSync(join(REPO_ROOT, 'exercises', name, 'src'), src(name), { recursive: true });
    },
    dispose() {
      rmSync(state, { recursive: true, force: true });
    },
  };
}

/** Run the CLI to the end as a learner would in a script or CI: no TTY, no colour. */
export async function cachelab(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 120_000,
): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, CI: 'true', NO_COLOR: '1', ...env },
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

/** A CLI process that keeps running (watch): feed it lines, wait for what it prints. */
export class Running {
  readonly child: ChildProcessWithoutNullStreams;
  out = '';
  readonly exited: Promise<number | null>;
  #waiters: { re: RegExp; from: number; resolve: (at: number) => void }[] = [];

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, CI: 'true', NO_COLOR: '1', ...env },
    });
    const collect = (chunk: Buffer) => {
      this.out += chunk.toString();
      this.#check();
    };
    this.child.stdout.on('data', collect);
    this.child.stderr.on('data', collect);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.re.test(this.out.slice(w.from))) return true;
      w.resolve(Date.now());
      return false;
    });
  }

  /** Resolves with the time (Date.now) `re` appeared in the output printed after `from`. */
  waitFor(re: RegExp, timeoutMs = 60_000, from = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`waited ${timeoutMs} ms for ${re} in:\n${this.out.slice(-3000)}`)),
        timeoutMs,
      );
      this.#waiters.push({
        re,
        from,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
      });
      this.#check();
    });
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** Resolves with the exit code, or rejects when it has not exited within `timeoutMs`. */
  async exit(timeoutMs = 10_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`did not exit within ${timeoutMs} ms:\n${this.out.slice(-2000)}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** `git show HEAD:<path>`: the committed starter. */
export async function committed(path: string): Promise<string> {
  const { stdout } = await exec('git', ['show', `HEAD:${path}`], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}
