import { describe, expect, it } from 'vitest';
import { ChannelReader } from '../src/runner/channel.ts';
import type { ChannelMessage, ChannelReport, ChannelTest } from '../src/runner/channel-reporter.ts';
import { checkIntegrity } from '../src/runner/integrity.ts';

/**
 * The runner's side of the report channel: progress lines while the run goes on, then one
 * report. Anything that is not exactly what the reporter writes is refused whole.
 */
const FILE = 'test/price.test.ts';
const start = (id: string, title: string, line = 1): ChannelMessage => ({
  type: 'test-start',
  id,
  file: FILE,
  path: ['priceWithVat', title],
  location: { line, column: 3 },
});
const end = (
  id: string,
  title: string,
  state: 'passed' | 'failed',
  errors: string[] = [],
  line = 1,
): ChannelMessage => ({
  type: 'test-end',
  id,
  file: FILE,
  path: ['priceWithVat', title],
  location: { line, column: 3 },
  state,
  errors,
  durationMs: 5,
});
const test = (title: string, state: ChannelTest['state'], line = 1): ChannelTest => ({
  file: FILE,
  path: ['priceWithVat', title],
  state,
  errors: [],
  durationMs: 5,
  location: { line, column: 3 },
});
const report = (tests: ChannelTest[]): ChannelReport => ({
  type: 'report',
  tests,
  fileErrors: [],
  unhandled: [],
  reason: 'passed',
});
const lines = (...messages: (ChannelMessage | string)[]) =>
  messages.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join('\n') + '\n';
const TIMED_OUT =
  'Test timed out in 20000ms.\nIf this is a long-running test, pass a timeout value as the last argument';

function read(text: string, killed = false, chunk = 7): ChannelReader {
  let clock = 0;
  const reader = new ChannelReader({ limit: 10_000, now: () => (clock += 1000) });
  // In small pieces: a line may arrive in several chunks.
  for (let i = 0; i < text.length; i += chunk) reader.push(Buffer.from(text.slice(i, i + chunk)));
  reader.end(killed);
  return reader;
}

describe('the report channel, read as it arrives', () => {
  it('takes the progress and the report of a finished run', () => {
    const reader = read(
      lines(
        {
          type: 'module',
          file: FILE,
          tests: [
            { id: 'a', path: ['priceWithVat', 'adds VAT'], location: { line: 4, column: 3 } },
            { id: 'b', path: ['priceWithVat', 'rounds'], location: { line: 7, column: 3 } },
          ],
        },
        start('a', 'adds VAT', 4),
        end('a', 'adds VAT', 'passed', [], 4),
        start('b', 'rounds', 7),
        end('b', 'rounds', 'failed', ['expected 1 to be 2'], 7),
        report([test('adds VAT', 'passed', 4), test('rounds', 'failed', 7)]),
      ),
    );
    expect(reader.rejected).toBeUndefined();
    expect(reader.report?.tests).toHaveLength(2);
    expect(reader.modules[0]?.tests.map((t) => t.id)).toEqual(['a', 'b']);
    expect(reader.tests.map((t) => [t.path.at(-1), t.end?.state])).toEqual([
      ['adds VAT', 'passed'],
      ['rounds', 'failed'],
    ]);
  });

  it('knows which test was running, and since when, when a run is killed mid-line', () => {
    const text = lines(start('a', 'adds VAT'), end('a', 'adds VAT', 'passed'), start('b', 'rounds'));
    const reader = read(`${text}{"type":"test-end","id":"b"`, true);
    expect(reader.rejected).toBeUndefined();
    expect(reader.report).toBeUndefined();
    const running = reader.tests.filter((t) => !t.end);
    expect(running.map((t) => t.path.at(-1))).toEqual(['rounds']);
    expect(running[0]?.startedAt).toBeGreaterThan(0);
  });

  it('counts the tests that hung in a row on their testTimeout, and starts again after one that did not', () => {
    const reader = read(
      lines(
        start('a', 'one'),
        end('a', 'one', 'failed', [TIMED_OUT]),
        start('b', 'two'),
        end('b', 'two', 'passed'),
        start('c', 'three'),
        end('c', 'three', 'failed', [TIMED_OUT]),
        start('d', 'four'),
        end('d', 'four', 'failed', [TIMED_OUT]),
      ),
      true,
    );
    expect(reader.hungInARow.map((t) => t.id)).toEqual(['c', 'd']);
  });

  const refused: [string, string, boolean?][] = [
    ['a line that is not JSON', lines(start('a', 'one'), 'not json', report([]))],
    ['a module whose tests are a count', lines({ type: 'module', file: FILE, tests: 2 } as never)],
    ['a message of an unknown type', lines({ type: 'verdict', pass: true } as never, report([]))],
    [
      'a test-end with a state the reporter never writes',
      lines(start('a', 'one'), { ...end('a', 'one', 'passed'), state: 'pass' } as never),
    ],
    ['a report whose tests are not tests', lines({ ...report([]), tests: [{ file: FILE, state: 'passed' }] } as never)],
    [
      'two reports (a forged one written into the channel beside the real one)',
      lines(report([test('one', 'passed')]), report([])),
    ],
    ['a line after the report', lines(report([]), start('a', 'one'))],
    ['a test that starts twice', lines(start('a', 'one'), start('a', 'one'))],
    ['a test that ends twice', lines(start('a', 'one'), end('a', 'one', 'failed'), end('a', 'one', 'passed'))],
    ['a finished run whose last line is cut short', `${lines(start('a', 'one'))}{"type":"report"`, false],
  ];
  for (const [what, text, killed] of refused) {
    it(`refuses the whole stream for ${what}: no progress, no report`, () => {
      const reader = read(text, killed ?? false);
      expect(reader.rejected).toBeDefined();
      expect(reader.report).toBeUndefined();
      expect(reader.tests).toEqual([]);
      expect(reader.modules).toEqual([]);
    });
  }

  // Found by review: each chunk was decoded on its own, so a character cut between two chunks
  // became two U+FFFD, and a test named with ’ no longer matched the manifest (an integrity
  // failure for an honest run, whenever a large report was split there).
  it('keeps a character whose bytes arrive in two chunks', () => {
    const title = 'answers another investor with that investor’s rows';
    const bytes = Buffer.from(lines(start('a', title), end('a', title, 'passed'), report([test(title, 'passed')])));
    const at = bytes.indexOf(Buffer.from('’')) + 1;
    const reader = new ChannelReader({ limit: 10_000 });
    reader.push(bytes.subarray(0, at));
    reader.push(bytes.subarray(at));
    reader.end(false);
    expect(reader.rejected).toBeUndefined();
    expect(reader.report?.tests[0]?.path.at(-1)).toBe(title);
    expect(reader.tests[0]?.end?.path.at(-1)).toBe(title);
  });

  it('refuses a stream larger than its limit', () => {
    const reader = new ChannelReader({ limit: 100 });
    reader.push(lines(start('a', 'x'.repeat(200))));
    expect(reader.rejected).toMatch(/more than 100 bytes/);
  });
});

describe("the report against the tests' results as they ended", () => {
  const base = { tripwires: [], wires: [], fileErrors: [] };
  it('finds nothing when they agree (tests of the same name told apart by where they are)', () => {
    const streamed = [end('a', 'one', 'failed', [], 4), end('b', 'one', 'passed', [], 9)].map((m) => m as never);
    expect(checkIntegrity({ ...base, tests: [test('one', 'failed', 4), test('one', 'passed', 9)], streamed })).toEqual(
      [],
    );
  });

  it('flags a test that ended failed and is reported passed, or is missing from the report', () => {
    const streamed = [end('a', 'one', 'failed', [], 4), end('b', 'two', 'failed', [], 9)].map((m) => m as never);
    const findings = checkIntegrity({ ...base, tests: [test('one', 'passed', 4)], streamed });
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatch(
      /the final report disagrees with the tests' results as they ended: priceWithVat › one ended "failed", reported "passed"; priceWithVat › two ended "failed", reported not at all/,
    );
  });
});
