import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GradeOptions, gradeSubmissions, regradeOnResume } from '../src/grade/grade.ts';
import { mergeOutputs } from '../src/grade/merge.ts';
import type { ResultsJson } from '../src/grade/reports/results-json.ts';
import { writeReports } from '../src/grade/reports/write.ts';
import { checkExerciseFolder, checkSubmittedTree, safeFileSha256 } from '../src/grade/safe-files.ts';
import { isCleanPass, scoreOf } from '../src/grade/score.ts';
import { readManifest, readResult, writeManifest, writeResult } from '../src/grade/store.ts';
import { fetchFailure, fetchSubmission, locateExercises, shardSlice } from '../src/grade/submissions.ts';
import type { ExerciseInfo, Manifest, StoredResult, StoredTest } from '../src/grade/types.ts';
import { fixtures, MALFORMED, type MalformedId } from './grade-robust-fixtures.ts';

/**
 * The grader against what a class really hands in: links, FIFOs, huge files, files where
 * folders should be, odd zips, failed clones — each a fixture of its own
 * (grade-robust-fixtures.ts) with its exact score and message. Then the fair-points rules
 * (given tests, skips, integrity failures) on hand-made results, merges of shards graded on
 * different tests, and a grader whose parent dies.
 */
const work = mkdtempSync(join(tmpdir(), 'cachelab-grade-robust-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const read = (path: string) => readFileSync(path, 'utf8');
const results = (out: string, id: string) => JSON.parse(read(join(out, id, 'results.json'))) as ResultsJson;
const TIMEOUT_S = 20;

describe('a class of malformed submissions', () => {
  const subs = join(work, 'malformed');
  const out = join(work, 'grades-malformed');
  mkdirSync(subs, { recursive: true });
  const sources = Object.values(MALFORMED).map((build) => build(subs));
  const options: GradeOptions = { sources, root: fixtures, out, timeoutSeconds: TIMEOUT_S, concurrency: 3 };
  let graded = 0;

  beforeAll(async () => {
    graded = (await gradeSubmissions(options)).graded;
  }, 120_000);

  const NOT_SUBMITTED_02 = 'Nothing submitted for this exercise: there is no exercises/02-fixture-words/src/.';
  const EXPECTED: Record<MalformedId, { score: number; '01': string; '02': string }> = {
    'src-is-a-file': {
      score: 5,
      '01': 'exercises/01-fixture/src is a file, not a folder: submit exercises/01-fixture/src/ as a folder of source files.',
      '02': 'All 4 checks passed.',
    },
    'test-is-a-file': {
      score: 0,
      '01': "exercises/01-fixture/test is a file, not a folder: the exercise's tests are a folder (test/), and a submission's copy of them is only compared with the pristine one.",
      '02': NOT_SUBMITTED_02,
    },
    'secret-link': {
      score: 0,
      '01': 'exercises/01-fixture/src/secret.txt is a symbolic link (to /etc/passwd): a submission may hold only regular files and folders. It was not followed.',
      '02': NOT_SUBMITTED_02,
    },
    'stdin-link': {
      score: 0,
      '01': 'exercises/01-fixture/test/price.test.ts is a symbolic link (to /dev/stdin): a submission may hold only regular files and folders. It was not followed.',
      '02': NOT_SUBMITTED_02,
    },
    'zero-link': {
      score: 0,
      '01': 'exercises/01-fixture/package.json is a symbolic link (to /dev/zero): a submission may hold only regular files and folders. It was not followed.',
      '02': NOT_SUBMITTED_02,
    },
    'fifo-in-test': {
      score: 0,
      '01': 'exercises/01-fixture/test/extra.test.ts is a FIFO (named pipe): a submission may hold only regular files and folders. It was not read.',
      '02': NOT_SUBMITTED_02,
    },
    'huge-src-file': {
      score: 0,
      '01': 'exercises/01-fixture/src/data.json is 1.4 MB; a submitted file may be at most 1.0 MB. It was not read.',
      '02': NOT_SUBMITTED_02,
    },
    'exercises-link': {
      score: 0,
      '01': 'exercises/ is not a folder (a symbolic link or a file): a submission may hold only regular files and folders. It was not followed.',
      '02': 'exercises/ is not a folder (a symbolic link or a file): a submission may hold only regular files and folders. It was not followed.',
    },
    'large-added-test': { score: 10, '01': 'All 3 checks passed.', '02': NOT_SUBMITTED_02 },
    'zip-backslashes': { score: 10, '01': 'All 3 checks passed.', '02': NOT_SUBMITTED_02 },
    'zip-too-big': {
      score: 0,
      '01': `Did not extract ${join(subs, 'zip-too-big.zip')}: it would extract to 300.0 MB, more than the 200.0 MB a submission may hold.`,
      '02': `Did not extract ${join(subs, 'zip-too-big.zip')}: it would extract to 300.0 MB, more than the 200.0 MB a submission may hold.`,
    },
    'zip-not-a-zip': {
      score: 0,
      '01': `Could not extract ${join(subs, 'zip-not-a-zip.zip')}: it is not a zip file, or it is damaged (unzip found no central directory)`,
      '02': `Could not extract ${join(subs, 'zip-not-a-zip.zip')}: it is not a zip file, or it is damaged (unzip found no central directory)`,
    },
    'zip-stray-files': { score: 10, '01': 'All 3 checks passed.', '02': NOT_SUBMITTED_02 },
  };

  it('grades every one of them: none stops the batch, and every report is written', () => {
    expect(graded).toBe(Object.keys(MALFORMED).length * 2);
    for (const file of ['gradebook.csv', 'junit.xml', 'index.html']) expect(existsSync(join(out, file))).toBe(true);
    expect(readManifest(out)?.finishedAt).toBeDefined();
  });

  it.each(Object.keys(EXPECTED) as MalformedId[])('%s: the exact score and message of each exercise', (id) => {
    const expected = EXPECTED[id];
    const json = results(out, id);
    expect(json.score).toBe(expected.score);
    expect(json.exercises.map((e) => e.message)).toEqual([expected['01'], expected['02']]);
  });

  it('refuses a malformed exercise as an error of the submission, not one the grader retries', () => {
    const refused = readResult(out, 'secret-link', '01-fixture');
    expect(refused).toMatchObject({ status: 'error', passed: 0, total: 0, tests: [] });
    expect(refused?.retry).toBeUndefined();
    expect(refused?.notSubmitted).toBeUndefined();
  });

  it('never follows a link: the content of /etc/passwd reaches no report', () => {
    const passwd = read('/etc/passwd').split('\n')[0] as string;
    expect(passwd.length).toBeGreaterThan(5);
    for (const file of ['secret-link/results.json', 'secret-link/01-fixture.json', 'index.html', 'junit.xml'])
      expect(read(join(out, file))).not.toContain(passwd);
  });

  it('flags a large added test file with its hash but does not diff it', () => {
    const [finding] = readResult(out, 'large-added-test', '01-fixture')?.tamper ?? [];
    expect(finding).toMatchObject({
      file: 'test/big.test.ts',
      change: 'added',
      diff: '(too large to diff (400004 bytes))',
    });
    expect(finding?.submittedSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('resumes the same batch without crashing, regrading only the errors, to the same gradebook', async () => {
    const before = read(join(out, 'gradebook.csv'));
    const again = await gradeSubmissions({ ...options, resume: true });
    // The 9 exercises refused (7, and exercises-link's two) are errors, graded again (cheaply:
    // nothing runs), and so are the 4 of the two zips that could not be extracted; the runs of
    // unchanged code and the exercises not submitted are kept.
    expect([again.graded, again.resumed]).toEqual([13, 13]);
    expect(read(join(out, 'gradebook.csv'))).toBe(before);
  }, 60_000);
});

describe('reading a submission safely', () => {
  const dir = join(work, 'trees');

  it('lists a tree of regular files sorted by code point', () => {
    const src = join(dir, 'plain', 'src');
    for (const f of ['b.ts', 'B.ts', 'lib/a.ts', '_x.ts']) {
      mkdirSync(join(src, f, '..'), { recursive: true });
      writeFileSync(join(src, f), 'x');
    }
    mkdirSync(join(src, 'node_modules', 'pkg'), { recursive: true });
    symlinkSync('/etc', join(src, 'node_modules', 'pkg', 'link'));
    expect(checkSubmittedTree(src)).toEqual({ ok: true, files: ['B.ts', '_x.ts', 'b.ts', 'lib/a.ts'] });
  });

  it('refuses an exercise folder that is itself a link, and accepts one without src/ as empty', () => {
    const exercises = join(dir, 'linked-exercise', 'exercises');
    mkdirSync(join(dir, 'real-01', 'src'), { recursive: true });
    mkdirSync(exercises, { recursive: true });
    symlinkSync(join(dir, 'real-01'), join(exercises, '01-fixture'));
    expect(checkExerciseFolder(join(exercises, '01-fixture'), '01-fixture')).toEqual({
      ok: false,
      reason: `exercises/01-fixture is a symbolic link (to ${join(dir, 'real-01')}): a submission may hold only regular files and folders. It was not followed.`,
    });
    mkdirSync(join(exercises, '02-fixture-words', 'test'), { recursive: true });
    expect(checkExerciseFolder(join(exercises, '02-fixture-words'), '02-fixture-words')).toEqual({
      ok: true,
      srcFiles: [],
    });
  });

  it('caps the number of files and the bytes of a tree, and names the cap', () => {
    const src = join(dir, 'many', 'src');
    mkdirSync(src, { recursive: true });
    for (let i = 0; i < 6; i++) writeFileSync(join(src, `f${i}.ts`), 'x'.repeat(100));
    expect(checkSubmittedTree(src, { maxFiles: 5 })).toEqual({
      ok: false,
      reason:
        'src holds more than 5 files and folders: submit the source files only (no dependencies, no build output).',
    });
    expect(checkSubmittedTree(src, { maxTotalBytes: 450, label: 'exercises/01-fixture/src' })).toEqual({
      ok: false,
      reason: 'exercises/01-fixture/src holds more than 450 bytes of files; submit the source files only.',
    });
  });

  it('hashes a FIFO or a link to a device as nothing, without opening it (no hang)', () => {
    mkdirSync(join(dir, 'odd'), { recursive: true });
    execFileSync('mkfifo', [join(dir, 'odd', 'fifo')]);
    symlinkSync('/dev/zero', join(dir, 'odd', 'zero'));
    expect(safeFileSha256(join(dir, 'odd', 'fifo'))).toBeUndefined();
    expect(safeFileSha256(join(dir, 'odd', 'zero'))).toBeUndefined();
    writeFileSync(join(dir, 'odd', 'crlf.txt'), 'a\r\nb\r\n');
    writeFileSync(join(dir, 'odd', 'lf.txt'), 'a\nb\n');
    expect(safeFileSha256(join(dir, 'odd', 'crlf.txt'))).toBe(safeFileSha256(join(dir, 'odd', 'lf.txt')));
  });

  it('finds the repository in a zip folder with stray files beside it, and not through a link', () => {
    const extracted = join(dir, 'extracted');
    mkdirSync(join(extracted, 'cachelab-main', 'exercises', '01-fixture'), { recursive: true });
    mkdirSync(join(extracted, '__MACOSX'), { recursive: true });
    writeFileSync(join(extracted, 'NOTES.txt'), 'hi');
    writeFileSync(join(extracted, '.DS_Store'), '');
    expect(locateExercises(extracted, ['01-fixture'])).toBe(join(extracted, 'cachelab-main', 'exercises'));
    const linked = join(dir, 'linked');
    mkdirSync(linked, { recursive: true });
    symlinkSync(join(extracted, 'cachelab-main'), join(linked, 'repo'));
    expect(locateExercises(linked, ['01-fixture'])).toBeUndefined();
  });
});

describe('a clone that fails', () => {
  it("keeps git's fatal line, not its last one", async () => {
    const fetched = await fetchSubmission(
      { id: 'bob', source: 'file:///nowhere/bob/cachelab.git', kind: 'git' },
      join(work, 'clone-out'),
      ['01-fixture'],
    );
    expect(fetched.record.error).toBe(
      "Could not clone file:///nowhere/bob/cachelab.git: fatal: '/nowhere/bob/cachelab.git' does not appear to be a git repository",
    );
  });

  it("puts the server's remote: line first when there is one", () => {
    const stderr =
      "remote: Repository not found.\nfatal: repository 'https://github.com/x/y.git/' not found\n\nPlease make sure you have the correct access rights\nand the repository exists.\n";
    expect(fetchFailure({ stderr, code: 128 }, 'git')).toBe(
      "remote: Repository not found. — fatal: repository 'https://github.com/x/y.git/' not found",
    );
  });
});

const EX: ExerciseInfo = { id: '01', name: '01-fixture', slug: 'fixture', title: 'Fixture', points: 10 };
const test = (name: string, status: StoredTest['status'], given = false): StoredTest => ({
  name,
  file: 'test/price.test.ts',
  status,
  message: status === 'pass' ? '' : `${name} went wrong`,
  durationMs: 1,
  ...(given ? { given: true } : {}),
});
function stored(
  submission: string,
  status: StoredResult['status'],
  tests: StoredTest[],
  extra: Partial<StoredResult> = {},
) {
  const passed = tests.filter((t) => t.status === 'pass').length;
  return {
    version: 1,
    submission,
    exercise: EX,
    status,
    message: `${status}.`,
    passed,
    total: tests.filter((t) => t.status !== 'skip').length,
    tests,
    durationMs: 10,
    output: '',
    tamper: [],
    fingerprint: { pristine: 'pinned-1', submission: submission },
    gradedAt: '2025-01-01T00:00:00.000Z',
    ...extra,
  } satisfies StoredResult as StoredResult;
}

describe('fair points', () => {
  it('gives no points for tests the starter already passes', () => {
    const tests = [test('a', 'pass', true), test('b', 'pass'), test('c', 'fail'), test('d', 'fail')];
    expect(scoreOf(stored('x', 'fail', tests), 10, false)).toBe(3.33);
    expect(
      scoreOf(
        stored(
          'x',
          'pass',
          tests.map((t) => ({ ...t, status: 'pass' })),
        ),
        10,
        false,
      ),
    ).toBe(10);
  });

  it('when every test is given, only a pass earns the points', () => {
    const all = [test('a', 'pass', true), test('b', 'fail', true)];
    expect(scoreOf(stored('x', 'fail', all), 10, false)).toBe(0);
    expect(scoreOf(stored('x', 'pass', [test('a', 'pass', true)]), 10, false)).toBe(10);
  });

  it('never counts a skipped or errored test as passed, whatever the status says', () => {
    const skipped = stored('x', 'pass', [test('a', 'pass'), test('b', 'pass'), test('c', 'skip')]);
    expect(isCleanPass(skipped)).toBe(false);
    expect(scoreOf(skipped, 10, false)).toBe(6.67);
    expect(scoreOf(skipped, 10, true)).toBe(0);
    expect(scoreOf(stored('x', 'pass', [test('a', 'pass'), test('b', 'error')]), 10, false)).toBe(5);
  });

  it('scores an integrity failure exactly 0 whatever its status', () => {
    const forged = stored('x', 'pass', [test('a', 'pass')], { integrity: { ok: false, reasons: ['forged'] } });
    expect(scoreOf(forged, 10, false)).toBe(0);
    expect(isCleanPass(forged)).toBe(false);
  });

  it('--resume grades timeouts and errors again, but not what was not submitted nor an integrity failure', () => {
    expect(regradeOnResume(stored('x', 'timeout', []))).toBe(true);
    expect(regradeOnResume(stored('x', 'error', []))).toBe(true);
    expect(regradeOnResume(stored('x', 'error', [], { notSubmitted: true }))).toBe(false);
    expect(regradeOnResume(stored('x', 'fail', [], { integrity: { ok: false, reasons: ['r'] } }))).toBe(false);
    expect(regradeOnResume(stored('x', 'error', [], { integrity: { ok: false, reasons: ['r'] } }))).toBe(false);
    expect(regradeOnResume(stored('x', 'pass', [test('a', 'pass')]))).toBe(false);
  });
});

function manifestFor(root: string, graded: string[], pinned?: Record<string, string>): Manifest {
  return {
    version: 1,
    root,
    exercises: [EX],
    all: graded.map((id) => ({ id, source: `/subs/${id}` })),
    graded,
    allOrNothing: false,
    shard: null,
    ...(pinned ? { pinned } : {}),
    startedAt: '2025-01-01T00:00:00.000Z',
  };
}

describe('reports flag integrity failures, skips and given tests', () => {
  const out = join(work, 'reports');
  const ids = ['forged', 'given', 'skipped'];
  beforeAll(() => {
    writeManifest(out, manifestFor(fixtures, ids));
    writeResult(
      out,
      stored('forged', 'pass', [test('adds VAT', 'pass'), test('rounds', 'pass')], {
        integrity: { ok: false, reasons: ['test/price.test.ts › rounds was skipped', 'the report was forged'] },
      }),
    );
    writeResult(
      out,
      stored('given', 'fail', [test('keeps zero', 'pass', true), test('adds VAT', 'pass'), test('rounds', 'fail')]),
    );
    writeResult(out, stored('skipped', 'pass', [test('adds VAT', 'pass'), test('rounds', 'skip')]));
    writeReports(out);
  });

  it('gradebook.csv: the scores, and an integrity column with the reasons', () => {
    expect(read(join(out, 'gradebook.csv'))).toBe(
      [
        'submission,source,01-fixture,total,max,flagged,integrity',
        'forged,/subs/forged,0.00,0.00,10.00,,01-fixture: test/price.test.ts › rounds was skipped; the report was forged',
        'given,/subs/given,5.00,5.00,10.00,,',
        'skipped,/subs/skipped,5.00,5.00,10.00,,',
        '',
      ].join('\r\n'),
    );
  });

  it('results.json: never "pass" with an integrity failure or a skip, with the reasons and the given tests', () => {
    const forged = results(out, 'forged');
    expect(forged).toMatchObject({
      status: 'fail',
      score: 0,
      flagged: true,
      message:
        'Failed an integrity check (scored 0): 01-fixture: test/price.test.ts › rounds was skipped; the report was forged',
      integrity: [
        { exercise: '01-fixture', reasons: ['test/price.test.ts › rounds was skipped', 'the report was forged'] },
      ],
    });
    expect(forged.exercises[0]).toMatchObject({ status: 'integrity', score: 0 });
    expect(forged.tests[0]).toMatchObject({ name: '01 fixture › integrity', status: 'fail' });

    const skipped = results(out, 'skipped');
    expect(skipped).toMatchObject({ status: 'fail', score: 5 });
    expect(skipped.exercises[0]?.status).toBe('fail');
    expect(skipped.tests.map((t) => [t.name, t.status, t.message])).toEqual([
      ['01 fixture › adds VAT', 'pass', null],
      ['01 fixture › rounds', 'fail', 'This test was skipped, and a skipped test counts as failed.'],
    ]);

    const given = results(out, 'given');
    expect(given.tests.filter((t) => t.given).map((t) => t.name)).toEqual(['01 fixture › keeps zero']);
    expect(given.exercises[0]).toMatchObject({ given: 1, score: 5 });
  });

  it('junit.xml: an integrity failure, a skip as a failure, "given" in system-out', () => {
    const xml = read(join(out, 'junit.xml'));
    expect(xml).toContain(
      '<failure type="integrity" message="failed an integrity check (scored 0): test/price.test.ts › rounds was skipped; the report was forged">',
    );
    expect(xml).toContain(
      '<property name="integrity" value="test/price.test.ts › rounds was skipped; the report was forged"/>',
    );
    expect(xml).toContain(
      '<failure type="skipped" message="the test was skipped, and a skipped test counts as failed"/>',
    );
    expect(xml).toContain('<system-out>given: the starter already passes this test; it carries no points</system-out>');
    expect(xml).not.toContain('<skipped');
  });

  it('index.html: an integrity flag beside the tamper flag, a dim "given" tag', () => {
    const html = read(join(out, 'index.html'));
    expect(html).toContain('<tr class="flagged"><th scope="row" data-sort="forged">');
    expect(html).toContain('⚠ integrity (01)</span>');
    expect(html).toContain('<li>the report was forged</li>');
    expect(html).toContain(
      '✓</span> keeps zero <span class="given" title="the starter already passes this test: it carries no points">given</span>',
    );
    expect(html).toContain('rounds <small>(skipped: counts as failed)</small>');
  });
});

describe('shards and merges', () => {
  it('cuts shards from ids sorted by code point, not by locale', () => {
    const items = ['b', 'a', 'B', '_'].map((id) => ({ id }));
    expect(shardSlice(items, { index: 1, count: 2 }).map((s) => s.id)).toEqual(['B', 'a']);
    expect(shardSlice(items, { index: 2, count: 2 }).map((s) => s.id)).toEqual(['_', 'b']);
  });

  it('refuses to merge shards graded on different tests, naming the exercise', () => {
    const one = join(work, 'merge-1');
    const two = join(work, 'merge-2');
    writeManifest(one, manifestFor(fixtures, ['alice'], { '01-fixture': 'a'.repeat(64) }));
    writeManifest(two, manifestFor(fixtures, ['bob'], { '01-fixture': 'b'.repeat(64) }));
    expect(() => mergeOutputs([one, two], join(work, 'merged-bad'))).toThrow(
      `01-fixture was graded on different tests in ${one} and in ${two} (fingerprints aaaaaaaaaaaa… and bbbbbbbbbbbb…). Grade every shard against the same copy of the workshop, then merge.`,
    );
    // Outputs of older graders have no fingerprints in grade.json: their results have.
    const old = join(work, 'merge-old');
    writeManifest(old, manifestFor(fixtures, ['carol']));
    writeResult(
      old,
      stored('carol', 'pass', [test('a', 'pass')], { fingerprint: { pristine: 'c'.repeat(64), submission: 's' } }),
    );
    expect(() => mergeOutputs([one, old], join(work, 'merged-old'))).toThrow(
      /^01-fixture was graded on different tests/,
    );
    writeManifest(two, manifestFor(fixtures, ['bob'], { '01-fixture': 'a'.repeat(64) }));
    expect(mergeOutputs([one, two], join(work, 'merged-good')).manifest.pinned).toEqual({
      '01-fixture': 'a'.repeat(64),
    });
  });
});

describe('a grader left alone', () => {
  const BIN = fileURLToPath(new URL('../bin/cachelab.js', import.meta.url));
  /** A submission whose 01 never ends, so that the batch is under way when its parent goes. */
  const hanging = (id: string) => {
    const dir = join(work, 'hang', id);
    mkdirSync(join(dir, 'exercises/01-fixture/src'), { recursive: true });
    writeFileSync(
      join(dir, 'exercises/01-fixture/src/price.ts'),
      readFileSync(join(fixtures, 'variants/hang/price.ts')),
    );
    return dir;
  };
  const gradeArgs = (id: string, out: string) =>
    ['grade', hanging(id), '--exercises', '01', '--root', fixtures, '--out', out, '--timeout', '120'].map(
      (a) => `'${a}'`,
    );
  const env = { ...process.env, CI: 'true', NO_COLOR: '1', INIT_CWD: work };
  const until = (read: () => string, text: string, ms: number) =>
    new Promise<void>((resolve, reject) => {
      const started = Date.now();
      const poll = setInterval(() => {
        if (read().includes(text)) {
          clearInterval(poll);
          resolve();
        } else if (Date.now() - started > ms) {
          clearInterval(poll);
          reject(new Error(`"${text}" did not appear within ${ms} ms in:\n${read()}`));
        }
      }, 100);
    });
  /** Running: it exists and is not a zombie (an orphan's exit may wait for init to reap it). */
  const alive = (pid: number) => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  const runsOf = (out: string) => (existsSync(join(out, 'orphan')) ? readdirSync(join(out, 'orphan')) : []);

  it('stops its runs and writes its reports when its parent dies (npm → sh → node, npm killed)', async () => {
    const out = join(work, 'grades-orphan');
    // sh stays the grader's parent (a background job), as sh does under npm run.
    const sh = spawn(
      'sh',
      ['-c', `'${process.execPath}' '${BIN}' ${gradeArgs('orphan', out).join(' ')} & echo "grader $!"; wait`],
      {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    sh.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    sh.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    // `close` fires once every holder of the pipes is gone: the grader too.
    const closed = new Promise<void>((resolve) => sh.on('close', () => resolve()));
    await until(() => output, 'Grading 1 submission', 60_000);
    const grader = Number(/grader (\d+)/.exec(output)?.[1]);
    await new Promise((r) => setTimeout(r, 1500)); // the run is under way
    sh.kill('SIGKILL');
    const started = Date.now();
    await closed;
    expect(Date.now() - started, 'stopped within a few seconds, long before the 120 s timeout').toBeLessThan(20_000);
    expect(alive(grader), 'the grader has exited').toBe(false);
    expect(output).toContain('The process that started the grader has gone: stopping the batch');
    expect(output).toContain('Interrupted: the runs under way were stopped and not stored.');
    expect(readManifest(out)?.finishedAt, 'the batch is recorded as unfinished').toBeUndefined();
    expect(runsOf(out)).not.toContain('01-fixture.json');
    expect(existsSync(join(out, 'gradebook.csv'))).toBe(true);
  }, 120_000);

  it('treats SIGHUP (the terminal closed) like SIGTERM: stops, reports, exits 130', async () => {
    const out = join(work, 'grades-hup');
    const grader = spawn(process.execPath, [BIN, ...gradeArgs('hup', out).map((a) => a.slice(1, -1))], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    grader.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => grader.on('close', (code) => resolve(code)));
    await until(() => output, 'Grading 1 submission', 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    grader.kill('SIGHUP');
    expect(await exited).toBe(130);
    expect(output).toContain('Interrupted: the runs under way were stopped and not stored.');
    expect(readManifest(out)?.finishedAt).toBeUndefined();
  }, 120_000);
});
