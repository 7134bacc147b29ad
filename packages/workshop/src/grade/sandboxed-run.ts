import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Exercise } from '../repo.ts';
import { type RunResult, runExercise } from '../runner/run-exercise.ts';
import { createRunServices, sweepStaleRunServices } from './sandbox/run-services.ts';
import type { PinnedTests } from './types.ts';

/**
 * One graded run of a student's src/, the way the grader runs it:
 *  1. a PostgreSQL role and a Redis ACL user of the run's own, behind two proxies
 *     (sandbox/run-services.ts);
 *  2. the run in the sandbox (runner/sandbox.ts): the forwarder first, so that the usual
 *     addresses reach those proxies, then vitest; an environment built from scratch;
 *  3. tripwires planted among the pinned tests, the report checked against their manifest;
 *  4. the role, its schemas, the ACL user and the keys removed, whatever happened.
 * Without a sandbox (`sandbox: false`: not Linux, no bubblewrap) the run happens as the
 * grader's user with the allow-listed environment, and the result says so.
 */

const LAUNCH = fileURLToPath(new URL('../runner/sandbox-launch.mjs', import.meta.url));
const FORWARD = fileURLToPath(new URL('./sandbox/forward.mjs', import.meta.url));
/** Tripwires per test file. */
const TRIPWIRES = 2;

export interface GradedRunOptions {
  exercise: Exercise;
  srcDir: string;
  label: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  pinned: PinnedTests;
  /** Run in the sandbox (false only where none can be had). */
  sandbox: boolean;
  /** The environment of an unsandboxed run (the grader's, allow-listed). */
  env: NodeJS.ProcessEnv;
}

/** This machine, in 6 hex digits: run ids say which grader (host and pid) made them. */
const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 6);
const RUN_ID = /^p(\d+)_([0-9a-f]{6})_/;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove the roles, ACL users and keys of runs whose grader died without cleaning up
 * (SIGKILL, a reboot): those made on this machine by a process that no longer exists.
 * Runs of graders alive here, or of other machines sharing the servers, are left alone.
 */
export async function sweepDeadRuns(): Promise<string[]> {
  const report = await sweepStaleRunServices((runId) => {
    const m = RUN_ID.exec(runId);
    return !m || m[2] !== HOST || isAlive(Number(m[1]));
  });
  return report.removed;
}

export async function runGraded(options: GradedRunOptions): Promise<RunResult> {
  const common = {
    exercise: options.exercise,
    srcDir: options.srcDir,
    label: options.label,
    manifest: { tests: options.pinned.tests },
    given: new Set(options.pinned.given),
    tripwires: TRIPWIRES,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  if (!options.sandbox) return runExercise({ ...common, env: options.env });

  const runId = `p${process.pid}_${HOST}_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  // Short: a Unix socket's path has at most 107 bytes.
  const socketDir = mkdtempSync(join(tmpdir(), 'cl-'));
  const services = await createRunServices({ runId, socketDir });
  try {
    const forward = [
      `${services.listen.postgres.host}:${services.listen.postgres.port}=${services.sockets.postgres}`,
      `${services.listen.redis.host}:${services.listen.redis.port}=${services.sockets.redis}`,
    ];
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: '/tmp',
      TMPDIR: '/tmp',
      LANG: 'C.UTF-8',
      TZ: process.env.TZ ?? 'UTC',
      ...services.env,
      CACHELAB_FORWARD: forward.join(' '),
      CACHELAB_SANDBOXED: '1',
    };
    return await runExercise({
      ...common,
      sandbox: { env, socketDir, wrap: (command) => [process.execPath, LAUNCH, FORWARD, '--', ...command] },
    });
  } finally {
    await services.dispose();
    rmSync(socketDir, { recursive: true, force: true });
  }
}
