import { formatScore, integrityReasons } from '../score.ts';
import type { Gradebook } from './model.ts';

/**
 * junit.xml, the format CI systems and LMS plug-ins read:
 *   <testsuites> → one <testsuite> per submission × exercise → one <testcase> per test,
 *   with <failure> for a failed assertion and <error> for a test that could not run.
 * An exercise whose tests could not run at all (nothing submitted, import error, timeout)
 * is one testcase with an <error>. Scores, tamper flags and integrity failures go in
 * <properties>. A skipped test is a <failure type="skipped"> (it counts as failed); a test
 * the starter already passes says "given" in its <system-out> (it carries no points); a run
 * that failed an integrity check gets a testcase "integrity" with <failure type="integrity">
 * listing the reasons.
 */

/** Escape text and attribute values, and drop the characters XML 1.0 does not allow at all. */
export function xmlEscape(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: XML 1.0 forbids these characters
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
      .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

const attrs = (values: Record<string, string | number>) =>
  Object.entries(values)
    .map(([k, v]) => `${k}="${xmlEscape(String(v))}"`)
    .join(' ');

const seconds = (ms: number) => (ms / 1000).toFixed(3);
const firstLine = (text: string) => text.split('\n')[0]?.slice(0, 200) ?? '';

export function junitXml(book: Gradebook): string {
  const suites: string[] = [];
  let tests = 0;
  let failures = 0;
  let errors = 0;
  let skipped = 0;
  let totalMs = 0;
  for (const row of book.rows) {
    for (const cell of row.cells) {
      const { exercise, result } = cell;
      const classname = `${row.id}.${exercise.name}`;
      const cases: string[] = [];
      let suiteFailures = 0;
      let suiteErrors = 0;
      let suiteSkipped = 0;
      const reasons = integrityReasons(result);
      if (reasons.length > 0) {
        suiteFailures++;
        cases.push(
          `    <testcase ${attrs({ classname, name: 'integrity', time: '0.000' })}>\n      <failure ${attrs({ type: 'integrity', message: firstLine(`failed an integrity check (scored 0): ${reasons.join('; ')}`) })}>${xmlEscape(reasons.join('\n'))}</failure>\n    </testcase>`,
        );
      }
      if (!result) {
        suiteSkipped++;
        cases.push(
          `    <testcase ${attrs({ classname, name: exercise.name, time: '0.000' })}>\n      <skipped message="not graded"/>\n    </testcase>`,
        );
      } else if (result.notSubmitted) {
        // A zero the student earned, not a run that broke: a failure, not an error.
        suiteFailures++;
        cases.push(
          `    <testcase ${attrs({ classname, name: exercise.name, time: '0.000' })}>\n      <failure ${attrs({ type: 'not-submitted', message: firstLine(result.message) })}/>\n    </testcase>`,
        );
      } else if (result.tests.length === 0 || result.status === 'timeout') {
        suiteErrors++;
        cases.push(
          `    <testcase ${attrs({ classname, name: exercise.name, time: seconds(result.durationMs) })}>\n` +
            `      <error ${attrs({ type: result.status, message: firstLine(result.message) })}>${xmlEscape(
              [result.message, result.output.trim().slice(-2000)].filter(Boolean).join('\n\n'),
            )}</error>\n    </testcase>`,
        );
      } else {
        for (const t of result.tests) {
          const head = `    <testcase ${attrs({ classname, name: t.name, file: `exercises/${exercise.name}/${t.file}`, time: seconds(t.durationMs) })}`;
          const given = t.given
            ? '\n      <system-out>given: the starter already passes this test; it carries no points</system-out>'
            : '';
          if (t.status === 'pass') cases.push(given ? `${head}>${given}\n    </testcase>` : `${head}/>`);
          else if (t.status === 'skip') {
            // A skipped test never counts as passed: it is a failure, not <skipped/>.
            suiteFailures++;
            cases.push(
              `${head}>\n      <failure ${attrs({ type: 'skipped', message: 'the test was skipped, and a skipped test counts as failed' })}/>${given}\n    </testcase>`,
            );
          } else {
            const tag = t.status === 'error' ? 'error' : 'failure';
            if (tag === 'error') suiteErrors++;
            else suiteFailures++;
            cases.push(
              `${head}>\n      <${tag} ${attrs({ message: firstLine(t.message), type: tag === 'error' ? 'error' : 'AssertionError' })}>${xmlEscape(t.message)}</${tag}>${given}\n    </testcase>`,
            );
          }
        }
      }
      const ms = result?.durationMs ?? 0;
      tests += cases.length;
      failures += suiteFailures;
      errors += suiteErrors;
      skipped += suiteSkipped;
      totalMs += ms;
      const properties = [
        ['submission', row.id],
        ['source', row.source],
        ['exercise', exercise.name],
        ['status', result?.status ?? 'not graded'],
        ['score', formatScore(cell.score)],
        ['max_score', formatScore(exercise.points)],
        ['flagged', (result?.tamper ?? []).map((f) => `${f.file} (${f.change})`).join(', ')],
        ['integrity', reasons.join('; ')],
        ['given', String(result?.tests.filter((t) => t.given).length ?? 0)],
      ]
        .map(([name, value]) => `      <property ${attrs({ name: name as string, value: value as string })}/>`)
        .join('\n');
      suites.push(
        `  <testsuite ${attrs({
          name: `${row.id} · ${exercise.id} ${exercise.slug}`,
          tests: cases.length,
          failures: suiteFailures,
          errors: suiteErrors,
          skipped: suiteSkipped,
          time: seconds(ms),
          ...(result ? { timestamp: result.gradedAt.replace(/\.\d+Z$/, '') } : {}),
        })}>\n    <properties>\n${properties}\n    </properties>\n${cases.join('\n')}\n  </testsuite>`,
      );
    }
  }
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites ${attrs({ name: 'cachelab grade', tests, failures, errors, skipped, time: seconds(totalMs) })}>\n` +
    `${suites.join('\n')}\n</testsuites>\n`
  );
}
