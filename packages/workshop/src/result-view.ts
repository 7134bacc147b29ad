import { relative } from 'node:path';
import { c, indent, mark } from './output.ts';
import { REPO_ROOT } from './repo.ts';
import type { RunResult, TestOutcome } from './runner/run-exercise.ts';

export interface ResultViewOptions {
  /** Every failing check with its message, and every passing one by name. Default false. */
  all?: boolean;
  /** The tail of the test runner's output when the tests could not run. Default false. */
  verbose?: boolean;
  /** The src/ that was tested, shown after a failure (null: not shown). Default: the exercise's own. */
  srcDir?: string | null;
  /** Failing checks shown with their message before the rest are listed by name. Default 3. */
  detailed?: number;
  /** Failing checks listed by name after the detailed ones, before "… and N more". Default 10. */
  named?: number;
  /**
   * Terminal columns: names listed without their message are cut to one line each. Messages
   * are never cut (they are the point). Default: no limit.
   */
  width?: number;
  /** Terminal rows this view may take (watch fits one screen): fewer names when short. Default: no limit. */
  maxLines?: number;
}

const failed = (t: TestOutcome) => t.status === 'fail' || t.status === 'error';

/** `describe › describe › test` → [`describe › describe`, `test`]. */
function split(name: string): [string, string] {
  const at = name.lastIndexOf(' › ');
  return at < 0 ? ['', name] : [name.slice(0, at), name.slice(at + 3)];
}

function cut(text: string, width: number | undefined): string {
  if (!width || text.length <= width) return text;
  return `${text.slice(0, Math.max(1, width - 1))}…`;
}

/** Rows `text` takes on a terminal `width` columns wide. */
function rows(text: string, width: number | undefined): number {
  if (!width) return text.split('\n').length;
  return text.split('\n').reduce((n, line) => n + Math.max(1, Math.ceil(line.length / width)), 0);
}

/**
 * A run's result as a learner reads it, shared by `verify` and `watch`: one line with the
 * outcome, then the failing checks first — the first few with the test's own message (the
 * exercises write those in the learner's terms), the next ones by name, grouped under their
 * `describe` — and the passing ones collapsed to a count when there are more than three.
 */
export function describeResult(result: RunResult, options: ResultViewOptions = {}): string[] {
  const e = result.exercise;
  const seconds = c.dim(`(${(result.durationMs / 1000).toFixed(1)} s)`);
  if (result.status === 'pass') return [`${mark.ok} ${e.id} ${e.slug} passed: ${result.message} ${seconds}`];
  // A run stopped at its timeout lists what ran before (the checks that passed, failed, and
  // the one still running) like a failed run; one that stopped before any test, just why.
  if (result.status === 'error' || (result.status === 'timeout' && result.tests.length === 0)) {
    const lines = [`${mark.fail} ${e.id} ${e.slug}: ${result.message}`];
    if (result.detail && result.detail.length > 0) lines.push(indent(result.detail.join('\n'), 4));
    if (options.verbose && result.output) lines.push(indent(result.output.trim().split('\n').slice(-30).join('\n')));
    return lines;
  }
  const { width } = options;
  const where =
    options.srcDir === null ? '' : relative(REPO_ROOT, options.srcDir ?? `${e.dir}/src`) || options.srcDir || '';
  const headline = result.status === 'timeout' ? `${e.id} ${e.slug}:` : `${e.id} ${e.slug} failed:`;
  const lines = [`${mark.fail} ${headline} ${result.message}${where ? `  ${c.dim(where)}` : ''}`];
  let used = rows(`x ${headline} ${result.message}  ${where}`, width);
  // The check that was running when the run was stopped is the one to look at first.
  const failing = [
    ...result.tests.filter((t) => t.stoppedAfterMs !== undefined),
    ...result.tests.filter((t) => failed(t) && t.stoppedAfterMs === undefined),
  ];
  const passing = result.tests.filter((t) => t.status === 'pass');
  const detailed = options.all ? failing.length : (options.detailed ?? 3);
  let shownDetailed = 0;
  for (const t of failing.slice(0, detailed)) {
    const message = t.message ? indent(t.message, 6) : '';
    // On a short screen, the first failing check and its message always; more only if they fit.
    if (shownDetailed > 0 && options.maxLines && used + rows(`  x ${t.name}\n${message}`, width) + 2 > options.maxLines)
      break;
    lines.push(`  ${mark.fail} ${c.bold(t.name)}`);
    if (message) lines.push(message);
    used += rows(`  x ${t.name}${message ? `\n${message}` : ''}`, width);
    shownDetailed++;
  }
  const rest = failing.slice(shownDetailed);
  const named = options.all ? 0 : (options.named ?? 10);
  let listed = 0;
  let group = '';
  for (const t of rest.slice(0, named)) {
    const [parent, title] = split(t.name);
    const extra = parent !== group ? 2 : 1;
    if (options.maxLines && used + extra + 2 > options.maxLines) break;
    if (parent !== group) {
      group = parent;
      if (parent) lines.push(`  ${cut(`${parent} ›`, width ? width - 2 : undefined)}`);
    }
    lines.push(
      parent
        ? `    ${mark.fail} ${cut(title, width ? width - 6 : undefined)}`
        : `  ${mark.fail} ${cut(title, width ? width - 4 : undefined)}`,
    );
    used += extra;
    listed++;
  }
  const more = rest.length - listed;
  if (more > 0) lines.push(`  ${mark.fail} … and ${more} more failing`);
  if (options.all || passing.length <= 3) {
    for (const t of passing) lines.push(`  ${mark.ok} ${t.name}`);
  } else {
    lines.push(`  ${mark.ok} ${passing.length} other checks pass`);
  }
  if (result.notRun) lines.push(`  ${c.dim(`… ${result.notRun} more never ran: the run was stopped first`)}`);
  return lines;
}
