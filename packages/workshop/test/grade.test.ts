import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GradeOptions, gradeSubmissions, scrubbedEnv } from '../src/grade/grade.ts';
import { mergeOutputs } from '../src/grade/merge.ts';
import { createBatchProgress } from '../src/grade/progress.ts';
import type { ResultsJson } from '../src/grade/reports/results-json.ts';
import { readResult } from '../src/grade/store.ts';
import { resolveSubmissions, shardSlice } from '../src/grade/submissions.ts';

/**
 * The instructor's grader over a fixture "pristine root" (fixtures/exercises: 01-fixture,
 * 10 points, 3 tests; 02-fixture-words, 5 points, 4 tests) and submissions made here, one
 * of each kind a class hands in. Real runs through runExercise, real PostgreSQL and Redis
 * (the grading config's global setup checks them).
 */
const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const variant = (name: string, file: string) => join(fixtures, 'variants', name, file);
// Long enough for a sandboxed run on a loaded 2-core machine (about 5 s there), short for the endless loop.
const TIMEOUT_S = 15;

const work = mkdtempSync(join(tmpdir(), 'cachelab-grade-'));
const subs = join(work, 'submissions');
const outDir = (name: string) => join(work, name);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A submission folder shaped like a clone of the workshop: exercises/<name>/src/<file>. */
function submission(id: string, files: Record<string, string>): string {
  const dir = join(subs, id);
  mkdirSync(dir, { recursive: true });
  for (const [path, from] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    cpSync(from, join(dir, path));
  }
  return dir;
}

const PRICE = 'exercises/01-fixture/src/price.ts';
const WORDS = 'exercises/02-fixture-words/src/words.ts';
const sources = [
  submission('correct', { [PRICE]: variant('right', 'price.ts'), [WORDS]: variant('words-right', 'words.ts') }),
  submission('half-right', { [PRICE]: variant('right', 'price.ts'), [WORDS]: variant('words-most', 'words.ts') }),
  submission('infinite-loop', { [PRICE]: variant('hang', 'price.ts'), [WORDS]: variant('words-right', 'words.ts') }),
  submission('throws-at-import', {
    [PRICE]: variant('throws', 'price.ts'),
    [WORDS]: variant('words-right', 'words.ts'),
  }),
  submission('edits-tests', {
    [PRICE]: variant('wrong', 'price.ts'),
    [WORDS]: variant('words-right', 'words.ts'),
    'exercises/01-fixture/test/price.test.ts': join(fixtures, 'exercises/01-fixture/test/price.test.ts'),
    'exercises/01-fixture/package.json': join(fixtures, 'exercises/01-fixture/package.json'),
    // An untouched copy of the other exercise's tests is not flagged.
    'exercises/02-fixture-words/test/words.test.ts': join(fixtures, 'exercises/02-fixture-words/test/words.test.ts'),
  }),
  join(subs, 'empty'),
];
mkdirSync(join(subs, 'empty'), { recursive: true });
// The cheat: tests rewritten to pass on the wrong code, one skipped, and the config touched.
const cheatTest = join(subs, 'edits-tests/exercises/01-fixture/test/price.test.ts');
writeFileSync(
  cheatTest,
  readFileSync(cheatTest, 'utf8').replace('.toBe(120)', '.toBe(100)').replace("it('rounds", "it.skip('rounds"),
);
const cheatPackage = join(subs, 'edits-tests/exercises/01-fixture/package.json');
writeFileSync(
  cheatPackage,
  readFileSync(cheatPackage, 'utf8').replace('"timeoutSeconds": 60', '"timeoutSeconds": 600'),
);

const base = (out: string, extra: Partial<GradeOptions> = {}): GradeOptions => ({
  sources,
  root: fixtures,
  out,
  timeoutSeconds: TIMEOUT_S,
  concurrency: 3,
  ...extra,
});
const read = (path: string) => readFileSync(path, 'utf8');
const results = (out: string, id: string) => JSON.parse(read(join(out, id, 'results.json'))) as ResultsJson;

const EXPECTED_CSV = [
  'submission,source,01-fixture,02-fixture-words,total,max,flagged',
  `correct,${subs}/correct,10.00,5.00,15.00,15.00,`,
  // Its wrong 01 passes only the test the starter passes too, which carries no points.
  `edits-tests,${subs}/edits-tests,0.00,5.00,5.00,15.00,01-fixture: package.json (modified), test/price.test.ts (modified)`,
  `empty,${subs}/empty,0.00,0.00,0.00,15.00,`,
  `half-right,${subs}/half-right,10.00,2.50,12.50,15.00,`,
  `infinite-loop,${subs}/infinite-loop,0.00,5.00,5.00,15.00,`,
  `throws-at-import,${subs}/throws-at-import,0.00,5.00,5.00,15.00,`,
]
  .map((line) => line.replace(/,(01-fixture: .*)$/, ',"$1"'))
  // The last column says which exercises failed an integrity check: none here.
  .map((line, i) => (i === 0 ? `${line},integrity` : `${line},`))
  .join('\r\n');

/** A small XML well-formedness check: one root, balanced tags, quoted attributes, only known entities. */
function xmlProblems(xml: string): string[] {
  const problems: string[] = [];
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  let roots = 0;
  const entity = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const attribute = String.raw`\s+[A-Za-z_][\w:.-]*="[^"<]*"`;
  const tag = new RegExp(String.raw`^<(/?)([A-Za-z_][\w:.-]*)((?:${attribute})*)\s*(/?)>$`);
  for (const token of body.match(/<[^>]*>|[^<]+/g) ?? []) {
    if (!token.startsWith('<')) {
      if (stack.length === 0 && token.trim()) problems.push(`text outside the root: ${token.slice(0, 40)}`);
      if (entity.test(token)) problems.push(`a bare & in text: ${token.slice(0, 60)}`);
      continue;
    }
    const m = tag.exec(token);
    if (!m) {
      problems.push(`malformed tag: ${token.slice(0, 80)}`);
      continue;
    }
    const [, closing, name, attrs, selfClosing] = m;
    if (entity.test(attrs ?? '')) problems.push(`a bare & in an attribute: ${token.slice(0, 80)}`);
    if (closing) {
      if (stack.pop() !== name) problems.push(`</${name}> closes nothing open`);
    } else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name as string);
    } else if (stack.length === 0) roots++;
  }
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(' > ')}`);
  if (roots !== 1) problems.push(`${roots} root elements`);
  return problems;
}

describe('cachelab grade over a class of prepared submissions', () => {
  const out = outDir('grades');
  let wallMs = 0;

  beforeAll(async () => {
    const outcome = await gradeSubmissions(base(out));
    wallMs = outcome.wallMs;
    expect(outcome.graded).toBe(12);
  }, 90_000);

  it('scores each submission from the pristine tests: full, partial credit, and 0 for what cannot run', () => {
    expect(read(join(out, 'gradebook.csv'))).toBe(`${EXPECTED_CSV}\r\n`);
    // 12 runs at 3 at a time, one of them killed at the timeout: the batch did not wait on it serially.
    expect(wallMs).toBeLessThan(45_000);
  });

  it('gives partial credit as points × passed / total with two decimals, counting only the tests the starter fails', () => {
    const words = readResult(out, 'half-right', '02-fixture-words');
    expect(words?.status).toBe('fail');
    // 3 of 4 passed, but the starter already passes 2 of them ("given", worth nothing): 1 of 2 that count.
    expect([words?.passed, words?.total]).toEqual([3, 4]);
    expect(words?.tests.filter((t) => t.given).length).toBe(2);
    const half = results(out, 'half-right');
    expect(half.score).toBe(12.5);
    expect(half.exercises.map((e) => [e.name, e.status, e.score, e.max_score])).toEqual([
      ['01-fixture', 'pass', 10, 10],
      ['02-fixture-words', 'fail', 2.5, 5],
    ]);
  });

  it('kills an infinite loop at the timeout, scores it 0, and still grades everything else', () => {
    const loop = readResult(out, 'infinite-loop', '01-fixture');
    expect(loop?.status).toBe('timeout');
    expect(loop?.message).toMatch(new RegExp(`did not finish within ${TIMEOUT_S} s`));
    expect(readResult(out, 'infinite-loop', '02-fixture-words')?.status).toBe('pass');
    expect(results(out, 'infinite-loop').status).toBe('fail');
  });

  it('reports code that throws at import as an error worth 0, with the error in the message', () => {
    const boom = readResult(out, 'throws-at-import', '01-fixture');
    expect(boom?.status).toBe('error');
    expect(boom?.message).toContain('this module explodes when imported');
    const json = results(out, 'throws-at-import');
    const failing = json.tests.find((t) => t.task_id === 1);
    expect(failing).toMatchObject({ name: '01 fixture', status: 'error' });
    expect(failing?.message).toContain('explodes');
  });

  it('gives an empty submission status error and says that nothing was submitted', () => {
    const empty = results(out, 'empty');
    expect(empty.status).toBe('error');
    expect(empty.score).toBe(0);
    expect(empty.message).toMatch(
      /01 fixture: Nothing submitted for this exercise: there is no exercises\/01-fixture\/src/,
    );
    expect(empty.tests.every((t) => t.status === 'error')).toBe(true);
    // Counted as "not submitted", apart from the runs that broke.
    expect(readResult(out, 'empty', '01-fixture')?.notSubmitted).toBe(true);
    expect(readResult(out, 'throws-at-import', '01-fixture')?.notSubmitted).toBeUndefined();
    const html = read(join(out, 'index.html'));
    expect(html).toContain('<span class="badge b-missing">2 not submitted</span>');
    expect(html).toMatch(/<small>not submitted<\/small>/);
  });

  it('grades edited tests on the pristine ones and flags the files in every report', () => {
    const price = readResult(out, 'edits-tests', '01-fixture');
    expect(price?.status, 'the rewritten test must not have run').toBe('fail');
    expect([price?.passed, price?.total]).toEqual([1, 3]);
    expect(price?.tamper.map((f) => [f.file, f.change])).toEqual([
      ['package.json', 'modified'],
      ['test/price.test.ts', 'modified'],
    ]);
    expect(readResult(out, 'edits-tests', '02-fixture-words')?.tamper, 'an untouched copy is not flagged').toEqual([]);

    const json = results(out, 'edits-tests');
    expect(json.flagged).toBe(true);
    expect(json.tamper.map((f) => f.file)).toEqual(['package.json', 'test/price.test.ts']);
    expect(json.tamper[0]?.pristine_sha256).toMatch(/^[0-9a-f]{64}$/);
    // The report shows what changed, not only that something did.
    expect(json.tamper[1]?.diff).toContain("-  it('rounds to the cent', () => {");
    expect(json.tamper[1]?.diff).toContain("+  it.skip('rounds to the cent', () => {");
    expect(json.tamper[1]?.diff).toContain(
      "+    expect(priceWithVat(100), 'a price of 100 should cost 120 with VAT').toBe(100);",
    );
    expect(results(out, 'correct').flagged).toBe(false);

    expect(read(join(out, 'junit.xml'))).toContain(
      '<property name="flagged" value="package.json (modified), test/price.test.ts (modified)"/>',
    );
    const html = read(join(out, 'index.html'));
    expect(html).toMatch(/<tr class="flagged"><th scope="row" data-sort="edits-tests">/);
    expect(html).toContain('<details class="student flagged" id="s-edits-tests">');
    expect(html).toContain(`<span class="d-add">+  it.skip(&#39;rounds to the cent&#39;, () =&gt; {</span>`);
  });

  it('grades every run on a copy of the tests taken when the batch started, and keeps it', () => {
    const pinned = join(out, '.pristine', '01-fixture');
    expect(read(join(pinned, 'test/price.test.ts'))).toBe(
      read(join(fixtures, 'exercises/01-fixture/test/price.test.ts')),
    );
    expect(existsSync(join(pinned, 'src')), 'the starter is not part of what is graded').toBe(false);
  });

  it('writes results.json in the shape of the Exercism test-runner interface v3, with scores', () => {
    const json = results(out, 'half-right');
    expect(json).toMatchObject({ version: 3, status: 'fail', message: null, score: 12.5, max_score: 15 });
    expect(json.duration).toBeGreaterThan(0);
    expect(json.tests).toHaveLength(7);
    for (const t of json.tests) {
      // Plus `given: true` on the tests the starter already passes (they carry no points).
      expect(
        Object.keys(t)
          .filter((k) => k !== 'given')
          .sort(),
      ).toEqual(['message', 'name', 'output', 'status', 'task_id', 'test_code']);
      if ('given' in t) expect(t.given).toBe(true);
      expect(['pass', 'fail', 'error']).toContain(t.status);
      expect(t.message === null).toBe(t.status === 'pass');
    }
    expect(json.tests.filter((t) => t.task_id === 2 && t.status === 'fail').map((t) => t.name)).toEqual([
      '02 fixture-words › countWords › ignores runs of whitespace and the edges',
    ]);
    expect(results(out, 'correct')).toMatchObject({ status: 'pass', message: null, score: 15 });
  });

  it('writes a well-formed junit.xml: a testsuite per submission × exercise, failures and errors apart', () => {
    const xml = read(join(out, 'junit.xml'));
    expect(xmlProblems(xml)).toEqual([]);
    expect(xml.match(/<testsuite /g)).toHaveLength(12);
    // Errors are the runs that broke (a timeout, a throw at import); nothing submitted is a failure.
    expect(xml).toMatch(/<testsuites name="cachelab grade" tests="\d+" failures="\d+" errors="2" skipped="0"/);
    expect(xml).toMatch(/<failure type="not-submitted" message="Nothing submitted for this exercise/);
    expect(xml).toMatch(new RegExp(`<error type="timeout" message="The tests did not finish within ${TIMEOUT_S} s`));
    expect(xml).toMatch(/<failure message="a price of 100 should cost 120 with VAT: expected 100 to be 120"/);
    // What a submission controls is escaped.
    expect(xmlProblems('<a><b x="1 & 2"/></a>')).not.toEqual([]);
  });

  it('writes a self-contained index.html with the class table, histograms and the failing messages', () => {
    const html = read(join(out, 'index.html'));
    expect(html).toContain('<table class="class" id="class">');
    for (const id of ['correct', 'edits-tests', 'empty', 'half-right', 'infinite-loop', 'throws-at-import'])
      expect(html).toContain(`<a href="#s-${id}">${id}</a>`);
    expect(html.match(/<svg class="hist"/g)).toHaveLength(3); // two exercises and the total
    expect(html).toContain('runs of spaces, tabs and newlines separate words: expected 8 to be 3');
    expect(html).not.toMatch(/<link\b|src="https?:|href="https?:|url\(/);
  });

  it('does not regrade on --resume, and regrades only the code that changed', async () => {
    const resumed = outDir('grades-resumed');
    cpSync(out, resumed, { recursive: true });
    const stored = statSync(join(resumed, 'correct', '01-fixture.json')).mtimeMs;
    const again = await gradeSubmissions(base(resumed, { resume: true }));
    // Unchanged code is kept; the timeout (infinite-loop 01) and the error (throws-at-import 01) are graded again.
    expect([again.graded, again.resumed]).toEqual([2, 10]);
    expect(statSync(join(resumed, 'correct', '01-fixture.json')).mtimeMs).toBe(stored);
    expect(read(join(resumed, 'gradebook.csv'))).toBe(read(join(out, 'gradebook.csv')));

    const words = join(subs, 'half-right', WORDS);
    const before = read(words);
    try {
      cpSync(variant('words-right', 'words.ts'), words);
      const fixed = await gradeSubmissions(base(resumed, { resume: true }));
      expect([fixed.graded, fixed.resumed]).toEqual([3, 9]);
      expect(read(join(resumed, 'gradebook.csv'))).toMatch(/\r\nhalf-right,[^,]+,10\.00,5\.00,15\.00,15\.00,,\r\n/);
    } finally {
      writeFileSync(words, before);
    }
  }, 60_000);

  it('with --all-or-nothing gives an exercise its points only when every test passes', async () => {
    const strict = outDir('grades-strict');
    cpSync(out, strict, { recursive: true });
    const outcome = await gradeSubmissions(base(strict, { resume: true, allOrNothing: true }));
    expect(outcome.graded, 'only the timeout and the error are graded again').toBe(2);
    const csv = read(join(strict, 'gradebook.csv'));
    expect(csv).toMatch(/\r\nhalf-right,[^,]+,10\.00,0\.00,10\.00,15\.00,,\r\n/);
    expect(csv).toMatch(/\r\nedits-tests,[^,]+,0\.00,5\.00,5\.00,15\.00,/);
    expect(results(strict, 'half-right')).toMatchObject({ score: 10, all_or_nothing: true });
  }, 60_000);

  it('grades deterministic shards that merge into the same gradebook as one batch', async () => {
    const [one, two] = await Promise.all([
      // One run at a time each: two shards of 3 would put 6 sandboxed runs on this 2-core
      // machine at once, and the timeout would then cut correct runs short.
      gradeSubmissions(base(outDir('shard-1'), { shard: { index: 1, count: 2 }, concurrency: 1 })),
      gradeSubmissions(base(outDir('shard-2'), { shard: { index: 2, count: 2 }, concurrency: 1 })),
    ]);
    expect(one.manifest.graded).toEqual(['correct', 'empty', 'infinite-loop']);
    expect(two.manifest.graded).toEqual(['edits-tests', 'half-right', 'throws-at-import']);
    const merged = mergeOutputs([outDir('shard-1'), outDir('shard-2')], outDir('merged'));
    expect(merged.missing).toEqual([]);
    expect(read(join(outDir('merged'), 'gradebook.csv'))).toBe(read(join(out, 'gradebook.csv')));
    expect(results(outDir('merged'), 'edits-tests').flagged).toBe(true);
    expect(xmlProblems(read(join(outDir('merged'), 'junit.xml')))).toEqual([]);

    const partial = mergeOutputs([outDir('shard-1')], outDir('merged-partial'));
    expect(partial.missing).toEqual(['edits-tests', 'half-right', 'throws-at-import']);
  }, 90_000);
});

describe('cachelab grade on the command line, without a terminal', () => {
  const BIN = fileURLToPath(new URL('../bin/cachelab.js', import.meta.url));
  const cli = (args: string[]) => {
    try {
      const out = execFileSync(process.execPath, [BIN, ...args], {
        env: { ...process.env, CI: 'true', NO_COLOR: '1' },
        timeout: 60_000,
      }).toString();
      return { code: 0, out };
    } catch (err) {
      const e = err as { status?: number; stdout?: Buffer };
      return { code: e.status ?? 1, out: e.stdout?.toString() ?? '' };
    }
  };

  it('prints one plain line per submission, a summary and where the reports are, and exits 0', () => {
    const out = outDir('grades-cli');
    const run = cli([
      'grade',
      join(subs, 'correct'),
      join(subs, 'half-right'),
      '--exercises',
      '02',
      '--root',
      fixtures,
      '--out',
      out,
      '--timeout',
      String(TIMEOUT_S),
    ]);
    expect(run.code).toBe(0);
    expect(run.out).not.toContain('\r');
    expect(run.out).toContain('› Grading 2 submissions × 1 exercise: 2 runs');
    expect(run.out).toMatch(/^✓ correct {2}5\.00\/5\.00 {2}02 ✓ 5\.00 {2}\[\d\/2 runs\]$/m);
    expect(run.out).toMatch(/^✗ half-right {2}2\.50\/5\.00 {2}02 ✗ 2\.50 {2}\[\d\/2 runs\]$/m);
    expect(run.out).toMatch(/^✓ Graded 2 submissions in \d+s \(2 runs\)\. Mean 3\.75 of 5\.00/m);
    expect(run.out).toContain(`Reports: ${out}/index.html`);
  }, 60_000);

  it('refuses a malformed --shard with the fix, and exits 2', () => {
    const run = cli(['grade', join(subs, 'correct'), '--shard', '3/2', '--root', fixtures]);
    expect(run.code).toBe(2);
    expect(run.out).toContain('--shard must be i/n with 1 ≤ i ≤ n, not "3/2"');
  });
});

describe('submissions from git', () => {
  it('clones a repository with --depth 1, grades it, and records the commit', async () => {
    const repo = join(work, 'repos', 'alice', 'cachelab');
    cpSync(join(subs, 'correct'), repo, { recursive: true });
    const git = (...args: string[]) =>
      execFileSync('git', args, {
        cwd: repo,
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 'a',
          GIT_AUTHOR_EMAIL: 'a@x',
          GIT_COMMITTER_NAME: 'a',
          GIT_COMMITTER_EMAIL: 'a@x',
        },
      })
        .toString()
        .trim();
    git('init', '--quiet', '--initial-branch=main');
    git('add', '.');
    git('commit', '--quiet', '-m', 'my solutions');
    const commit = git('rev-parse', 'HEAD');
    const out = outDir('grades-git');
    const outcome = await gradeSubmissions({
      sources: [`file://${repo}`, 'file:///nowhere/bob/cachelab.git'],
      root: fixtures,
      out,
      exercises: ['01'],
      concurrency: 2,
    });
    expect(outcome.manifest.graded).toEqual(['alice-cachelab', 'bob-cachelab']);
    expect(results(out, 'alice-cachelab')).toMatchObject({ status: 'pass', score: 10, submission: { commit } });
    const bob = readResult(out, 'bob-cachelab', '01-fixture');
    expect(bob?.status).toBe('error');
    expect(bob?.message).toMatch(/^Could not clone file:\/\/\/nowhere\/bob\/cachelab\.git: /);
    expect(existsSync(join(out, '.sources', 'alice-cachelab')), 'the clone is removed once graded').toBe(false);
  }, 60_000);
});

describe('submission ids', () => {
  it('come from the folder or repository name, unique, whatever the order', () => {
    const dirs = ['x/alice/cachelab', 'x/bob/cachelab', 'x/carol'].map((d) => {
      mkdirSync(join(work, 'ids', d), { recursive: true });
      return join(work, 'ids', d);
    });
    const ids = (list: string[]) => resolveSubmissions(list, work).map((s) => s.id);
    expect(ids(dirs)).toEqual(['alice-cachelab', 'bob-cachelab', 'carol']);
    expect(ids([...dirs].reverse())).toEqual(['alice-cachelab', 'bob-cachelab', 'carol']);
    expect(ids([...dirs, dirs[2] as string])).toHaveLength(3);
    expect(ids(['https://github.com/Dana-K/cachelab-fork.git', 'git@github.com:eve/workshop.git'])).toEqual([
      'cachelab-fork',
      'workshop',
    ]);
    expect(() => resolveSubmissions(['no/such/folder'], work)).toThrow(/Can't find the submission "no\/such\/folder"/);
  });

  it('shards are disjoint slices of the sorted ids that cover them all', () => {
    const items = ['e', 'a', 'd', 'c', 'b'].map((id) => ({ id }));
    const slices = [1, 2, 3].map((index) => shardSlice(items, { index, count: 3 }).map((s) => s.id));
    expect(slices).toEqual([['a', 'd'], ['b', 'e'], ['c']]);
  });
});

describe('the grader around the runs', () => {
  it("hides the instructor's secrets from the code under test but keeps what the tests need", () => {
    const env = scrubbedEnv({
      GITHUB_TOKEN: 'x',
      AWS_SECRET_ACCESS_KEY: 'y',
      DATABASE_URL: 'pg',
      REDIS_URL: 'r',
      PATH: '/bin',
    });
    expect(env).toEqual({ GITHUB_TOKEN: undefined, AWS_SECRET_ACCESS_KEY: undefined });
  });

  it('shows a progress line with an ETA on a terminal and plain lines elsewhere', () => {
    const stream = (isTTY: boolean) => {
      const written: string[] = [];
      return {
        written,
        stream: { isTTY, columns: 200, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream,
      };
    };
    let now = 0;
    const tty = stream(true);
    const bar = createBatchProgress(4, tty.stream, () => now);
    bar.runStarted();
    now = 10_000;
    bar.runDone(true, false);
    bar.line('✓ alice 15.00/15.00');
    bar.stop();
    expect(tty.written.join('')).toMatch(/1\/4 runs .* 25% {2}0 running {2}10s elapsed {2}ETA 30s/);
    expect(tty.written).toContain('✓ alice 15.00/15.00\n');

    const plain = stream(false);
    const quiet = createBatchProgress(4, plain.stream, () => now);
    quiet.runStarted();
    quiet.runDone(true, false);
    quiet.line(`✓ alice 15.00/15.00 [${quiet.count()}]`);
    quiet.stop();
    expect(plain.written).toEqual(['✓ alice 15.00/15.00 [1/4 runs]\n']);
  });
});
