import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/repo.ts';
import { RUNS_DIR } from '../src/runner/workspace.ts';
import { committed, createLearner, type Learner, Running } from './learner-kit.ts';

/**
 * `cachelab watch` driven the way an editor's task runner or a script would: stdin is a
 * pipe, not a terminal, so each key is a line ("h", "q", …) and the screen is appended to.
 * A manual check on a real terminal (tmux) covers single keys and the redrawn screen.
 */
const EXERCISE = '01-validate-input';
const learners: Learner[] = [];
const running: Running[] = [];

function start(args: string[] = []): { learner: Learner; watch: Running } {
  const learner = createLearner('watch');
  learners.push(learner);
  learner.checkout(EXERCISE);
  const watch = new Running(['watch', ...args], learner.env);
  running.push(watch);
  return { learner, watch };
}

/** Test processes still running for a watch run of exercise 01 (the workspace path is in their arguments). */
function leftoverRuns(): string[] {
  let ps = '';
  try {
    ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  } catch {
    return [];
  }
  // watch-01 (the folder a learner's runs reuse) or watch-01-abc123 (one of its own, when that is taken).
  return ps.split('\n').filter((l) => /\/watch-01[-/]/.test(l) && l.includes(RUNS_DIR) && !l.includes('ps -eo'));
}

afterEach(() => {
  for (const r of running.splice(0)) r.kill();
});
afterAll(() => {
  for (const l of learners) l.dispose();
});

const FAILED = /✗ 01 validate-input failed: \d+ of \d+ checks failed/;

describe('cachelab watch', { timeout: 180_000 }, () => {
  it.each([
    ['file events', []],
    ['--poll', ['--poll']],
  ])(
    'with %s: tests the first unsolved exercise, re-runs within 2 s of a save, moves on when it passes, and stops on q',
    async (_, args) => {
      const { learner, watch } = start(args as string[]);
      await watch.waitFor(FAILED, 90_000);
      expect(watch.out).toContain('investor ids are case-insensitive, demo_inv is DEMO_INV');
      expect(watch.out).toMatch(/h hint · l list · c check all · r reset · q quit/);
      await watch.waitFor(args.length ? /looking for saves every 0\.5 s/ : /watching for saves in /, 10_000);

      // h: the first hint, below the result; l: the list with the current exercise marked.
      let mark = watch.out.length;
      watch.send('h');
      await watch.waitFor(/Hint 1 of \d+/, 10_000, mark);
      mark = watch.out.length;
      watch.send('l');
      await watch.waitFor(/▶ 01 validate-input/, 10_000, mark);

      // The learner saves the solution: a new run starts within 2 s, and passes.
      mark = watch.out.length;
      const saved = Date.now();
      cpSync(join(REPO_ROOT, 'solutions', EXERCISE, 'src'), learner.src(EXERCISE), { recursive: true });
      const rerun = await watch.waitFor(/Testing 01 validate-input \(you saved [^)]+\)/, 10_000, mark);
      expect(rerun - saved, 'the tests start again within 2 s of the save').toBeLessThan(2_000);
      await watch.waitFor(/✓ 01 validate-input passed: All \d+ checks passed/, 90_000, mark);
      await watch.waitFor(/On to \d{2} [a-z-]+|Every exercise is solved/, 10_000, mark);

      const progress = JSON.parse(readFileSync(join(learner.state, 'progress.json'), 'utf8')) as {
        solved: Record<string, string>;
      };
      expect(progress.solved['01'], 'passing in watch records the exercise as solved').toBeDefined();

      watch.send('q');
      expect(await watch.exit(15_000)).toBe(0);
      expect(watch.out).toContain('Stopped watching.');
    },
  );

  it('stops cleanly on Ctrl-C in the middle of a run: the run and its test processes are killed', async () => {
    const { watch } = start();
    await watch.waitFor(FAILED, 90_000);
    const mark = watch.out.length;
    watch.send(''); // Enter: test again
    await watch.waitFor(/Testing 01 validate-input \(you asked\)/, 10_000, mark);
    // Wait until vitest is really running before interrupting it.
    const deadline = Date.now() + 20_000;
    while (leftoverRuns().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(leftoverRuns().length, 'a test run is in progress').toBeGreaterThan(0);
    watch.child.kill('SIGINT');
    expect(await watch.exit(15_000)).toBe(0);
    expect(watch.out).toContain('Stopped watching.');
    expect(leftoverRuns(), 'no test process outlives watch').toEqual([]);
    expect(
      existsSync(RUNS_DIR) ? readdirSync(RUNS_DIR).filter((d) => d === 'watch-01' || d.startsWith('watch-01-')) : [],
      'the run’s workspace is cleaned up',
    ).toEqual([]);
  });

  it('r asks before resetting; y puts the starter back and keeps a backup, then tests it', async () => {
    const { learner, watch } = start();
    const app = join(learner.src(EXERCISE), 'app.ts');
    const starter = await committed(`exercises/${EXERCISE}/src/app.ts`);
    appendFileSync(app, '\n// an experiment\n');
    await watch.waitFor(FAILED, 90_000);
    let mark = watch.out.length;
    watch.send('r');
    await watch.waitFor(/Reset 01 validate-input to its starter\?/, 10_000, mark);
    expect(watch.out.slice(mark)).toMatch(/replaced .*app\.ts/);
    mark = watch.out.length;
    watch.send('n');
    await watch.waitFor(/Not reset\./, 10_000, mark);
    expect(readFileSync(app, 'utf8')).toContain('// an experiment');
    mark = watch.out.length;
    watch.send('r');
    await watch.waitFor(/Reset 01 validate-input to its starter\?/, 10_000, mark);
    watch.send('y');
    await watch.waitFor(/01 validate-input is back to its starter\. Your version: /, 10_000, mark);
    expect(readFileSync(app, 'utf8')).toBe(starter);
    const backups = readdirSync(join(learner.state, 'backups'));
    expect(readFileSync(join(learner.state, 'backups', backups[0] as string, 'app.ts'), 'utf8')).toContain(
      '// an experiment',
    );
    await watch.waitFor(/Testing 01 validate-input \(reset\)/, 10_000, mark);
    await watch.waitFor(FAILED, 90_000, mark);
    watch.send('q');
    expect(await watch.exit(15_000)).toBe(0);
  });
});
