import { Socket } from 'node:net';
import type { Reporter, TestCase, TestModule } from 'vitest/node';

/**
 * The report of a graded run, sent to the grader over a file descriptor it handed to this
 * process (`CACHELAB_REPORT_FD`, a socket pair), never through a file: the student's code
 * runs in vitest's worker processes, which do not inherit the descriptor, cannot open a
 * socket through /proc (ENXIO), and inside the sandbox cannot ptrace this process.
 *
 * Messages are JSON lines: `{"type":"report", …}` once, after the run; the grader treats a
 * run without one (killed, crashed) as an error.
 */

export interface ChannelTest {
  file: string;
  /** Ancestor suites and the test's title. */
  path: string[];
  state: 'passed' | 'failed' | 'skipped' | 'pending';
  /** Failure messages (with the expected/actual diff when there is one). */
  errors: string[];
  durationMs: number;
  location?: { line: number; column: number };
  /** What the worker-side integrity checks found (grading-setup.ts). */
  integrity?: string[];
}

export interface ChannelReport {
  type: 'report';
  tests: ChannelTest[];
  /** A test file that could not load or whose hooks failed outside any test. */
  fileErrors: { file: string; message: string }[];
  /** Errors that escaped the tests (unhandled rejections). */
  unhandled: string[];
  reason: string;
}

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
    if (Number.isInteger(fd) && fd > 2) this.#socket = new Socket({ fd, readable: false, writable: true });
  }

  onInit(vitest: { config: { root: string } }): void {
    this.#root = vitest.config.root;
  }

  async onTestRunEnd(
    modules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<{ message?: string }>,
    reason: string,
  ): Promise<void> {
    const report: ChannelReport = { type: 'report', tests: [], fileErrors: [], unhandled: [], reason };
    for (const module of modules) {
      const file = module.moduleId.startsWith(`${this.#root}/`)
        ? module.moduleId.slice(this.#root.length + 1)
        : module.moduleId;
      for (const error of module.errors()) report.fileErrors.push({ file, message: formatError(error) });
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
    if (!socket) return;
    await new Promise<void>((resolve) => {
      socket.on('error', () => resolve());
      socket.end(`${JSON.stringify(report)}\n`, () => resolve());
    });
  }
}
