import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPool } from '@cachelab/db';
import { connectRedis } from '@cachelab/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradeSubmissions } from '../src/grade/grade.ts';
import type { ResultsJson } from '../src/grade/reports/results-json.ts';
import { sweepDeadRuns } from '../src/grade/sandboxed-run.ts';
import { readResult } from '../src/grade/store.ts';
import { REPO_ROOT } from '../src/repo.ts';
import { runExercise } from '../src/runner/run-exercise.ts';
import { probeSandbox } from '../src/runner/sandbox.ts';
import { fixtureExercise } from './fixture-exercise.ts';

/**
 * A class with students who cheat, graded for real: every cheat runs inside the sandbox
 * against real PostgreSQL and Redis, and must score exactly 0 for the exercise it cheats
 * on, be flagged with its reason in every report, and leave the other exercise and the
 * other students alone. The sandbox needs Linux and bubblewrap (`.ci/run` installs it);
 * where it cannot exist the suite says why and skips.
 */
const sandbox = probeSandbox();
const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const variant = (name: string) => join(fixtures, 'variants', name, 'price.ts');
const work = mkdtempSync(join(tmpdir(), 'cachelab-cheats-'));
const subs = join(work, 'submissions');
const out = join(work, 'grades');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PRICE = 'exercises/01-fixture/src/price.ts';
const WORDS = 'exercises/02-fixture-words/src/words.ts';
function submission(id: string, price: string): string {
  const dir = join(subs, id);
  mkdirSync(join(dir, PRICE, '..'), { recursive: true });
  mkdirSync(join(dir, WORDS, '..'), { recursive: true });
  writeFileSync(join(dir, PRICE), price);
  cpSync(join(fixtures, 'variants', 'words-right', 'words.ts'), join(dir, WORDS));
  return dir;
}

/** Cheats the in-process checks must flag, with the words each reason must contain. */
const FLAGGED: Record<string, RegExp> = {
  'cheat-skip': /did not run \(skipped/,
  'cheat-flip-verdict': /failed result was rewritten/,
  'cheat-replace-result': /result was replaced by one that says "pass"/,
  'cheat-chai-assert': /replacing chai\.Assertion\.prototype\.assert was attempted/,
  'cheat-extend': /expect\.extend \(toBe\) was attempted/,
  'cheat-equality-tester': /expect\.addEqualityTesters\) was attempted/,
  'cheat-object-is': /built-ins replaced .*Object\.is/,
  'cheat-fails-flag': /changing the test's "fails" option was attempted/,
  'cheat-extra-tests': /20 tests ran that the pinned tests do not define/,
  // Found by review: wrap the worker's RPC to rewrite each failed update as a pass.
  'cheat-rpc-rewrite': /tried replacing vitest's worker RPC/,
  // Writes a forged report into every descriptor of vitest's main process it can open.
  'cheat-forge-channel': /ended \(exit code .*\) without sending its report/,
};
/**
 * Cheats that are not flagged as such, only fail: they end the run from inside (as honest
 * code may, by mistake), send forged updates late through the worker's RPC (undone), or
 * (found by review) try to open the vitest main process's inspector with SIGUSR1, which the
 * sandbox refuses.
 */
const BROKEN = ['cheat-exit-early', 'cheat-late-rpc', 'cheat-inspector'];

// Escapes from the sandbox. Each probe's priceWithVat is right only if its escape worked,
// so an escape would earn points; the control run below proves each probe CAN succeed.
const secretDir = join(work, 'secret');
const marker = join(REPO_ROOT, 'node_modules', `.cachelab-probe-${process.pid}`);
const SECRET_ENV = 'AWS_SECRET_ACCESS_KEY';
const outsideKey = `cachelab:probe:${process.pid}`;
const PROBES: Record<string, string> = {
  // Another student's code, the instructor's files: anything outside the run.
  'probe-read-outside': `import { readFileSync } from 'node:fs';
let ok = false;
try { ok = readFileSync(${JSON.stringify(join(secretDir, 'secret.txt'))}, 'utf8') === 'secret'; } catch {}`,
  // The repository and node_modules: read-only.
  'probe-write-repo': `import { writeFileSync } from 'node:fs';
let ok = false;
try { writeFileSync(${JSON.stringify(marker)}, 'x'); ok = true; } catch {}`,
  // The grader's environment: built from scratch.
  'probe-env': `const ok = process.env.${SECRET_ENV} === 'probe-secret';`,
  // PostgreSQL as its superuser, straight to the server and through the usual address.
  'probe-postgres-superuser': `import pg from 'pg';
let ok = false;
for (const url of ['postgres://postgres@127.0.0.1:5432/cachelab', 'postgres://postgres@localhost:5432/postgres']) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try { await client.connect(); const r = await client.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user'); ok ||= r.rows[0]?.rolsuper === true; } catch {} finally { await client.end().catch(() => {}); }
}`,
  // Redis outside the run's prefix, and as the default user.
  'probe-redis-outside': `import { Redis } from 'ioredis';
let ok = false;
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
try { await redis.connect(); } catch {}
for (const attempt of [[], ['AUTH', 'default', 'x'], ['HELLO', '3', 'AUTH', 'default', 'x'], ['RESET']]) {
  try { if (attempt.length) await redis.call(...(attempt as [string, ...string[]])); } catch {}
  try { await redis.set(${JSON.stringify(outsideKey)}, '1'); ok = true; } catch {}
}
redis.disconnect();`,
};
const probeSource = (body: string) => `${body}

export function priceWithVat(net: number): number {
  return ok ? Math.round(net * 120) / 100 : net;
}
`;

const sources: string[] = [];
const ids = { right: 'right', wrong: 'wrong' };
beforeAll(() => {
  mkdirSync(secretDir, { recursive: true });
  writeFileSync(join(secretDir, 'secret.txt'), 'secret');
  sources.push(submission('right', readFileSync(variant('right'), 'utf8')));
  sources.push(submission('wrong', readFileSync(variant('wrong'), 'utf8')));
  for (const cheat of [...Object.keys(FLAGGED), ...BROKEN])
    sources.push(submission(cheat, readFileSync(variant(cheat), 'utf8')));
  for (const [probe, body] of Object.entries(PROBES)) sources.push(submission(probe, probeSource(body)));
  // A run that hangs and leaves a detached grandchild behind, which must die with it.
  sources.push(
    submission(
      'hang-detached',
      `import { spawn } from 'node:child_process';
spawn(process.execPath, ['-e', 'setTimeout(() => {}, 300_000)', '${process.pid}-orphan'], { detached: true, stdio: 'ignore' }).unref();
while (true) {}
export function priceWithVat(net: number): number { return net; }
`,
    ),
  );
});

describe.skipIf(!sandbox.available)(
  `cachelab grade against a class that cheats (sandbox: ${sandbox.reason ?? 'bwrap'})`,
  () => {
    let csv = '';
    const results = (id: string) => JSON.parse(readFileSync(join(out, id, 'results.json'), 'utf8')) as ResultsJson;
    const score = (id: string) => {
      const row = csv.split('\r\n').find((line) => line.startsWith(`${id},`)) ?? '';
      return row.split(',').slice(2, 4).map(Number);
    };

    beforeAll(async () => {
      process.env[SECRET_ENV] = 'probe-secret';
      try {
        const outcome = await gradeSubmissions({
          sources,
          root: fixtures,
          out,
          timeoutSeconds: 15,
          concurrency: 2,
          requireSandbox: true,
        });
        expect(outcome.manifest.sandbox).toEqual({ sandboxed: true });
      } finally {
        delete process.env[SECRET_ENV];
      }
      csv = readFileSync(join(out, 'gradebook.csv'), 'utf8');
    }, 400_000);

    it('gives the honest answers their points: the solution full marks, the starter-like answer 0', () => {
      expect(score(ids.right)).toEqual([10, 5]);
      expect(score(ids.wrong)).toEqual([0, 5]);
      expect(readResult(out, 'right', '01-fixture')?.sandboxed).toBe(true);
    });

    for (const [cheat, reason] of Object.entries(FLAGGED)) {
      it(`scores ${cheat} 0 on the exercise it cheats, flags it with the reason in every report, and grades the other`, () => {
        expect(score(cheat), csv).toEqual([0, 5]);
        const stored = readResult(out, cheat, '01-fixture');
        expect(stored?.integrity?.reasons.join('\n')).toMatch(reason);
        const row = csv.split('\r\n').find((line) => line.startsWith(`${cheat},`)) ?? '';
        expect(row).toContain('01-fixture');
        const reported = results(cheat).exercises.find((e) => e.name === '01-fixture');
        expect((reported?.integrity ?? []).join('\n')).toMatch(reason);
        expect(results(cheat).status).not.toBe('pass');
        expect(readFileSync(join(out, 'junit.xml'), 'utf8')).toMatch(new RegExp(`${cheat}[\\s\\S]*?type="integrity"`));
        expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain(cheat);
      });
    }

    for (const cheat of BROKEN) {
      it(`scores ${cheat} 0: a run that ends itself or jams its report earns nothing`, () => {
        expect(score(cheat)).toEqual([0, 5]);
        expect(readResult(out, cheat, '01-fixture')?.status).not.toBe('pass');
      });
    }

    for (const probe of Object.keys(PROBES)) {
      it(`keeps ${probe} inside the sandbox: the escape earns nothing`, () => {
        expect(score(probe), JSON.stringify(readResult(out, probe, '01-fixture')?.tests)).toEqual([0, 5]);
      });
    }

    it('leaves the repository, the pinned tests and Redis outside the prefix untouched', async () => {
      expect(existsSync(marker)).toBe(false);
      const pinned = readFileSync(join(out, '.pristine', '01-fixture', 'test', 'price.test.ts'), 'utf8');
      expect(pinned).toBe(readFileSync(join(fixtures, 'exercises', '01-fixture', 'test', 'price.test.ts'), 'utf8'));
      const redis = await connectRedis();
      try {
        expect(await redis.exists(outsideKey)).toBe(0);
      } finally {
        redis.disconnect();
      }
    });

    it('kills a hung run at its timeout with every process it started, and drops its role, schemas and ACL user', async () => {
      expect(readResult(out, 'hang-detached', '01-fixture')?.status).toBe('timeout');
      const orphans = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => line.includes(`${process.pid}-orphan`));
      expect(orphans).toEqual([]);
      const admin = createPool({ max: 1 });
      try {
        const roles = await admin.query(
          "SELECT count(*)::int AS n FROM pg_roles WHERE rolname LIKE 'cachelab\\_run\\_%'",
        );
        expect(roles.rows[0].n).toBe(0);
      } finally {
        await admin.end();
      }
      const redis = await connectRedis();
      try {
        const users = (await redis.call('ACL', 'USERS')) as string[];
        expect(users.filter((u) => u.startsWith('cachelab-run-'))).toEqual([]);
      } finally {
        redis.disconnect();
      }
    });
  },
);

describe.skipIf(!sandbox.available)('a grader killed in the middle of a run', () => {
  it("takes the run's whole process tree with it, and the next batch removes its role and ACL user", async () => {
    const sub = join(work, 'killed', 'hanger');
    mkdirSync(join(sub, PRICE, '..'), { recursive: true });
    writeFileSync(
      join(sub, PRICE),
      `import { spawn } from 'node:child_process';
spawn(process.execPath, ['-e', 'setTimeout(() => {}, 300_000)', '${process.pid}-killed'], { detached: true, stdio: 'ignore' }).unref();
while (true) {}
export function priceWithVat(net: number): number { return net; }
`,
    );
    const grader = spawn(
      process.execPath,
      [
        join(REPO_ROOT, 'packages/workshop/bin/cachelab.js'),
        'grade',
        sub,
        '--root',
        fixtures,
        '--out',
        join(work, 'killed-out'),
        '--timeout',
        '120',
        '--exercises',
        '01',
      ],
      { stdio: 'ignore' },
    );
    const admin = createPool({ max: 1 });
    const runRoles = async () =>
      (
        await admin.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname LIKE $1', [
          `cachelab_run_p${grader.pid}\\_%`,
        ])
      ).rows;
    const orphans = () =>
      execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => line.includes(`${process.pid}-killed`));
    try {
      // Wait for the run to be under way: its role exists and its grandchild sleeps.
      for (let i = 0; i < 300 && ((await runRoles()).length === 0 || orphans().length === 0); i++)
        await new Promise((r) => setTimeout(r, 200));
      expect(orphans().length).toBe(1);
      grader.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 1500));
      expect(orphans()).toEqual([]);
      expect((await runRoles()).length).toBe(1); // nobody cleaned up: the grader died
      await sweepDeadRuns();
      expect(await runRoles()).toEqual([]);
    } finally {
      grader.kill('SIGKILL');
      await admin.end();
    }
  }, 90_000);
});

describe('the probes of the sandbox suite, run without a sandbox', () => {
  it('each escape works where nothing stops it, so its 0 in the sandbox means something', async () => {
    process.env[SECRET_ENV] = 'probe-secret';
    try {
      for (const probe of ['probe-read-outside', 'probe-env', 'probe-postgres-superuser']) {
        const result = await runExercise({
          exercise: fixtureExercise,
          srcDir: join(subs, probe, 'exercises', '01-fixture', 'src'),
          label: `control-${probe}`,
        });
        expect(result.status, `${probe}: ${result.message}`).toBe('pass');
      }
    } finally {
      delete process.env[SECRET_ENV];
    }
  }, 60_000);
});
