import { relative } from 'node:path';
import { c, indent, mark } from './output.ts';
import { REPO_ROOT } from './repo.ts';
import type { RunResult, TestOutcome } from './runner/run-exercise.ts';

export interface ResultViewOptions {
  /** Every failing check with its message, and every passing one by name. Default false. */
  all?: boolean;
  /** The tail of the test runner's output when the tests could not run. Default false. */
  verbose?: boolean;
  /** The src/ that was tested, shown after a failure. Default: the exercise's own. */
  srcDir?: string;
  /** Failing checks shown with their message before the rest are listed by name. Default 3. */
  detailed?: number;
  /** Failing checks listed by name after the detailed ones, before "… and N more". Default 10. */
  named?: number;
}

const failed = (t: TestOutcome) => t.status === 'fail' || t.status === 'error';

/**
 * A run's result as a learner reads it, shared by `verify` and `watch`: one line with the
 * outcome, then the failing checks first — the first few with the test's own message (the
 * exercises write those in the learner's terms), the next ones by name — and the passing
 * ones collapsed to a count when there are more than three.
 */
export function describeResult(result: RunResult, options: ResultViewOptions = {}): string[] {
  const e = result.exercise;
  const seconds = c.dim(`(${(result.durationMs / 1000).toFixed(1)} s)`);
  if (result.status === 'pass') return [`${mark.ok} ${e.id} ${e.slug} passed: ${result.message} ${seconds}`];
  if (result.status === 'error' || result.status === 'timeout') {
    const lines = [`${mark.fail} ${e.id} ${e.slug}: ${result.message}`];
    if (options.verbose && result.output) lines.push(indent(result.output.trim().split('\n').slice(-30).join('\n')));
    return lines;
  }
  const where = relative(REPO_ROOT, options.srcDir ?? `${e.dir}/src`) || options.srcDir || '';
  const lines = [`${mark.fail} ${e.id} ${e.slug} failed: ${result.message}  ${c.dim(where)}`];
  const failing = result.tests.filter(failed);
  const passing = result.tests.filter((t) => t.status === 'pass');
  const detailed = options.all ? failing.length : (options.detailed ?? 3);
  const named = options.all ? 0 : (options.named ?? 10);
  for (const t of failing.slice(0, detailed)) {
    lines.push(`  ${mark.fail} ${c.bold(t.name)}`);
    if (t.message) lines.push(indent(t.message, 6));
  }
  const rest = failing.slice(detailed);
  for (const t of rest.slice(0, named)) lines.push(`  ${mark.fail} ${t.name}`);
  if (rest.length > named) lines.push(`  ${mark.fail} … and ${rest.length - named} more failing`);
  if (options.all || passing.length <= 3) {
    for (const t of passing) lines.push(`  ${mark.ok} ${t.name}`);
  } else {
    lines.push(`  ${mark.ok} ${passing.length} other checks pass`);
  }
  return lines;
}
