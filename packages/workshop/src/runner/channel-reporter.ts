import { Socket } from 'node:net';
import type { Reporter, TestCase, TestModule } from 'vitest/node';

/**
 * The report of a run, sent to the runner over a file descriptor it handed to this process
 * (`CACHELAB_REPORT_FD`, a socket pair), never through a file: the code under test runs in
 * vitest's worker processes, which do not inherit the descriptor, cannot open a socket
 * through /proc (ENXIO), and inside the sandbox cannot ptrace this process.
 *
 * Messages are JSON lines (channel.ts reads and checks them):
 *  - while the run goes on, its progress: `module` when a test file has loaded (its tests,
 *    in order), `test-start` when a test is about to run (before its beforeEach hooks),
 *    `test-end` with its state once it and its hooks are done. A run stopped at its timeout
 *    has only these: they say which checks passed, which failed, and which one was running;
 *  - `report` once, last, after the run: the verdict. A run without one (killed, crashed)
 *    is an error, or a timeout; its progress is never taken for a verdict.
 */

type Location = { line: number; column: number };

export interface ChannelTest {
  file: string;
  /** Ancestor suites and the test's title. */
  path: string[];
  state: 'passed' | 'failed' | 'skipped' | 'pending';
  /** Failure messages (with the expected/actual diff when there is one). */
  errors: string[];
  durationMs: number;
  location?: Location;
  /** What the worker-side integrity checks found (grading-setup.ts). */
  integrity?: string[];
}

export interface ChannelFileError {
  file: string;
  message: string;
  /**
   * The first stack frame inside the workspace's src/ (relative to the workspace:
   * `src/app.ts`), source-mapped: where the code under test threw while the file loaded.
   */
  source?: { file: string; line: number; column: number };
}

export interface ChannelReport {
  type: 'report';
  tests: ChannelTest[];
  /** A test file that could not load or whose hooks failed outside any test. */
  fileErrors: ChannelFileError[];
  /** Errors that escaped the tests (unhandled rejections). */
  unhandled: string[];
  reason: string;
}

/** A test file has loaded: its tests in the order they will run (tripwires included). */
export interface ChannelModule {
  type: 'module';
  file: string;
  tests: { id: string; path: string[]; location?: Location }[];
}

/** A test is about to run. `id` is vitest's: unique within the run. */
export interface ChannelTestStart {
  type: 'test-start';
  id: string;
  file: string;
  path: string[];
  location?: Location;
}

/** A test and its hooks are done. */
export interface ChannelTestEnd {
  type: 'test-end';
  id: string;
  file: string;
  path: string[];
  location?: Location;
  state: 'passed' | 'failed' | 'skipped';
  errors: string[];
  durationMs: number;
}

export type ChannelMessage = ChannelModule | ChannelTestStart | ChannelTestEnd | ChannelReport;

function formatError(e: { message?: string; diff?: string; name?: string }): string {
  const message = e.message ?? String(e);
  return e.diff ? `${message}\n\n${e.diff}` : message;
}

function testPath(test: TestCase): string[] {
  const names = [test.name];
  let parent = test.parent;
  while (parent.type === 'suite') {
    names.unshift(parent.name);
    parent = parent.parent;
  }
  return names;
}

export default class ChannelReporter implements Reporter {
  #socket: Socket | undefined;
  #root = '';

  constructor() {
    const fd = Number(process.env.CACHELAB_REPORT_FD);
    if (Number.isInteger(fd) && fd > 2) {
      this.#socket = new Socket({ fd, readable: false, writable: true });
      // The runner has gone (it was killed): nothing to tell anyone.
      this.#socket.on('error', () => {});
    }
  }

  onInit(vitest: { config: { root: string } }): void {
    this.#root = vitest.config.root;
  }

  #file(moduleId: string): string {
    return moduleId.startsWith(`${this.#root}/`) ? moduleId.slice(this.#root.length + 1) : moduleId;
  }

  #send(message: ChannelMessage): void {
    if (this.#socket && !this.#socket.destroyed) this.#socket.write(`${JSON.stringify(message)}\n`);
  }

  onTestModuleCollected(module: TestModule): void {
    this.#send({
      type: 'module',
      file: this.#file(module.moduleId),
      tests: [...module.children.allTests()].map((test) => ({
        id: test.id,
        path: testPath(test),
        ...(test.location ? { location: test.location } : {}),
      })),
    });
  }

  onTestCaseReady(test: TestCase): void {
    this.#send({
      type: 'test-start',
      id: test.id,
      file: this.#file(test.module.moduleId),
      path: testPath(test),
      ...(test.location ? { location: test.location } : {}),
    });
  }

  onTestCaseResult(test: TestCase): void {
    const result = test.result();
    if (result.state === 'pending') return;
    this.#send({
      type: 'test-end',
      id: test.id,
      file: this.#file(test.module.moduleId),
      path: testPath(test),
      ...(test.location ? { location: test.location } : {}),
      state: result.state,
      errors: (result.errors ?? []).map(formatError),
      durationMs: Math.round(test.diagnostic()?.duration ?? 0),
    });
  }

  async onTestRunEnd(
    modules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<{ message?: string }>,
    reason: string,
  ): Promise<void> {
    const report: ChannelReport = { type: 'report', tests: [], fileErrors: [], unhandled: [], reason };
    const srcPrefix = `${this.#root}/src/`;
    for (const module of modules) {
      const file = this.#file(module.moduleId);
      for (const error of module.errors()) {
        const frame = (error.stacks ?? []).find((f) => typeof f.file === 'string' && f.file.startsWith(srcPrefix));
        report.fileErrors.push({
          file,
          message: formatError(error),
          ...(frame ? { source: { file: this.#file(frame.file), line: frame.line, column: frame.column } } : {}),
        });
      }
      for (const test of module.children.allTests()) {
        const result = test.result();
        const meta = test.meta() as { cachelabIntegrity?: unknown };
        report.tests.push({
          file,
          path: testPath(test),
          state: result.state,
          errors: (result.errors ?? []).map(formatError),
          durationMs: Math.round(test.diagnostic()?.duration ?? 0),
          ...(test.location ? { location: test.location } : {}),
          ...(Array.isArray(meta.cachelabIntegrity) ? { integrity: meta.cachelabIntegrity.map(String) } : {}),
        });
      }
    }
    for (const error of unhandledErrors) report.unhandled.push(formatError(error));
    const socket = this.#socket;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.on('error', () => resolve());
      socket.end(`${JSON.stringify(report)}\n`, () => resolve());
    });
  }
}
