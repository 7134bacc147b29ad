import type { ChannelTest, ChannelTestEnd } from './channel-reporter.ts';
import type { Tripwire } from './tripwires.ts';

/**
 * Can a run's report be trusted? The report comes over a channel the student's code cannot
 * write, but it describes what happened in a process the student's code shared with the
 * tests. These checks catch what that code could still do to the verdict:
 *
 *  - a test that did not run (skipped, todo) while its file loaded: `ctx.skip()` from a
 *    hook, a `vi.skip`… A test that does not run proves nothing, and it is not a pass;
 *  - tests missing from, or added to, the manifest of the pinned tests (collected when the
 *    batch pinned them): a src/ that registers tests of its own, or stops the run early;
 *  - a tripwire that passed (or was skipped while the real tests beside it passed): the
 *    assertions were made to pass whatever they were given;
 *  - what the setup file saw (grading-setup.ts): a failed verdict rewritten, a built-in
 *    replaced;
 *  - the report against the channel's progress (channel.ts): a test the progress saw end
 *    one way and the report calls another, or one the report does not have, was changed
 *    after it ran.
 * Each finding is one sentence for the instructor; [] means none.
 */

export interface TestManifest {
  /** Every test the pinned tests define: file relative to the exercise, name "describe › title". */
  tests: { file: string; name: string }[];
}

export interface IntegrityInput {
  /** The real tests as reported (tripwires taken out). */
  tests: ChannelTest[];
  /** The tripwires planted, and those found in the report with their result. */
  tripwires: Tripwire[];
  wires: [ChannelTest, Tripwire][];
  /** "file: message" for each file that failed to load or whose hooks failed. */
  fileErrors: string[];
  /** Every test-end of the channel's progress (tripwires included). Default: none. */
  streamed?: ChannelTestEnd[];
  manifest?: TestManifest;
  /**
   * The run was told to stop at its first `bail` failures (check's wrong answers) and reached
   * them: the tests after them were skipped by vitest itself, not by the code under test.
   */
  bailed?: boolean;
}

const nameOf = (t: ChannelTest) => t.path.join(' › ');
const where = (w: Tripwire) => `${w.file}:${w.line}`;

export function checkIntegrity(input: IntegrityInput): string[] {
  const findings: string[] = [];
  const brokenFiles = new Set(input.fileErrors.map((e) => e.split(':')[0] ?? ''));
  const passedIn = (file: string) => input.tests.some((t) => t.file === file && t.state === 'passed');

  const skipped = input.tests.filter((t) => t.state !== 'passed' && t.state !== 'failed' && !brokenFiles.has(t.file));
  if (skipped.length > 0 && !input.bailed)
    findings.push(
      `${skipped.length} test${skipped.length === 1 ? '' : 's'} did not run (skipped or todo): ${skipped
        .slice(0, 3)
        .map(nameOf)
        .join('; ')}${skipped.length > 3 ? '; …' : ''}`,
    );

  // A guard of grading-setup.ts threw while a test file loaded: the attempt itself is the finding.
  for (const error of input.fileErrors) {
    const attempt = /Grading: (.+?) is not allowed/.exec(error);
    if (attempt) findings.push(`while loading ${error.split(':')[0]}, the code under test tried ${attempt[1]}`);
  }

  const found = new Map(input.wires.map(([test, wire]) => [wire, test]));
  for (const wire of input.tripwires) {
    const test = found.get(wire);
    if (!test) {
      if (!brokenFiles.has(wire.file) && input.tests.some((t) => t.file === wire.file))
        findings.push(`a tripwire (a test that must fail) at ${where(wire)} did not run`);
    } else if (test.state === 'passed') {
      findings.push(`a tripwire (a test whose assertion is false) passed at ${where(wire)}: the assertions were bent`);
    } else if (test.state !== 'failed' && passedIn(wire.file)) {
      findings.push(`a tripwire at ${where(wire)} was skipped while the tests beside it passed`);
    }
  }

  // The same finding on many tests (an attempt is noted on every test after it) is one line.
  const seen = new Map<string, string[]>();
  for (const test of input.tests)
    for (const finding of test.integrity ?? []) seen.set(finding, [...(seen.get(finding) ?? []), nameOf(test)]);
  for (const [finding, tests] of seen)
    findings.push(
      tests.length === 1 ? `${tests[0]}: ${finding}` : `${finding} (seen in ${tests.length} tests, first ${tests[0]})`,
    );

  if (input.streamed && input.streamed.length > 0) {
    const all = [...input.tests, ...input.wires.map(([test]) => test)];
    const at = (t: { file: string; path: string[]; location?: { line: number; column: number } }) =>
      `${t.file}\u0000${t.path.join('\u0000')}\u0000${t.location?.line ?? ''}:${t.location?.column ?? ''}`;
    const reported = new Map<string, string[]>();
    for (const t of all) reported.set(at(t), [...(reported.get(at(t)) ?? []), t.state]);
    const changed: string[] = [];
    for (const end of input.streamed) {
      const states = reported.get(at(end)) ?? [];
      const i = states.indexOf(end.state);
      if (i >= 0) states.splice(i, 1);
      else changed.push(`${nameOf(end)} ended "${end.state}", reported ${states[0] ? `"${states[0]}"` : 'not at all'}`);
    }
    if (changed.length > 0)
      findings.push(
        `the final report disagrees with the tests' results as they ended: ${changed.slice(0, 3).join('; ')}${changed.length > 3 ? '; …' : ''}`,
      );
  }

  if (input.manifest) {
    const key = (file: string, name: string) => `${file}\u0000${name}`;
    const expected = new Map<string, number>();
    for (const t of input.manifest.tests)
      expected.set(key(t.file, t.name), (expected.get(key(t.file, t.name)) ?? 0) + 1);
    const extra: string[] = [];
    for (const t of input.tests) {
      const k = key(t.file, nameOf(t));
      const left = expected.get(k) ?? 0;
      if (left === 0) extra.push(`${t.file} › ${nameOf(t)}`);
      else expected.set(k, left - 1);
    }
    const missing = [...expected]
      .filter(([k, left]) => left > 0 && !brokenFiles.has(k.split('\u0000')[0] ?? ''))
      .map(([k]) => k.replace('\u0000', ' › '));
    if (extra.length > 0)
      findings.push(
        `${extra.length} test${extra.length === 1 ? '' : 's'} ran that the pinned tests do not define: ${extra.slice(0, 3).join('; ')}`,
      );
    if (missing.length > 0)
      findings.push(
        `${missing.length} pinned test${missing.length === 1 ? '' : 's'} never reported a result: ${missing.slice(0, 3).join('; ')}`,
      );
  }
  return findings;
}
