import { spawn } from 'node:child_process';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { type IncomingMessage, request } from 'node:http';
import { join } from 'node:path';
import { createPool, databaseUrl } from '@cachelab/db';
import { freePort, readServiceNeeds, startChaosProxy } from '@cachelab/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { listExercises, listLessons, REPO_ROOT } from '../src/repo.ts';
import { homeNotes } from '../src/services.ts';
import { BIN, cachelab, createLearner, Running } from './learner-kit.ts';

/**
 * What a learner meets when a service is missing or the database is new: only the services
 * a lesson or exercise uses are asked for, the database is created and seeded by the first
 * command that needs it (saying so), doctor and the home screen say what is true, and
 * Ctrl-C leaves nobody's download cut and says goodbye the same way every time.
 */
const learner = createLearner('services');
const running: Running[] = [];
afterAll(() => {
  for (const r of running) r.kill();
  learner.dispose();
});

/** A REDIS_URL on a port where nothing listens. */
async function redisDown(): Promise<{ port: number; env: NodeJS.ProcessEnv }> {
  const port = await freePort();
  return { port, env: { ...learner.env, REDIS_URL: `redis://127.0.0.1:${port}` } };
}

/** A DATABASE_URL naming a database that does not exist yet on the shared server, dropped afterwards. */
function freshDatabase(tag: string): { name: string; url: string; drop(): Promise<void> } {
  const name = `cachelab_test_${tag}_${process.pid}`;
  const url = new URL(databaseUrl());
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const admin = createPool({ url: Object.assign(new URL(databaseUrl()), { pathname: '/postgres' }).toString() });
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}

/** `cachelab run <lesson>` on a free port, and what its first GET of `path` answers. */
async function runAndGet(lesson: string, env: NodeJS.ProcessEnv, path = '/employees/42') {
  const port = await freePort();
  const run = new Running(['run', lesson, '--port', String(port)], env);
  running.push(run);
  await run.waitFor(/listening on http/, 90_000);
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  await res.arrayBuffer();
  return { run, port, res };
}

describe('each lesson and exercise says which services it uses', () => {
  it('in cachelab.services of its package.json: PostgreSQL everywhere, Redis from lesson 03 on', () => {
    const lessons = Object.fromEntries(listLessons().map((l) => [l.id, readServiceNeeds(l.dir)]));
    expect(lessons['01']).toEqual({ postgres: 'required' });
    expect(lessons['02']).toEqual({ postgres: 'required' });
    expect(lessons['03'], "lesson 03's server answers BYPASS without Redis").toEqual({
      postgres: 'required',
      redis: 'optional',
    });
    expect(lessons['04'], "lesson 04's server needs Redis for its bus").toEqual({
      postgres: 'required',
      redis: 'required',
    });
    for (const e of listExercises()) {
      const meta = JSON.parse(readFileSync(join(e.dir, 'package.json'), 'utf8')) as {
        cachelab: { services?: unknown };
      };
      const raw = meta.cachelab.services;
      expect(raw, `exercise ${e.id} says it explicitly`).toBeDefined();
    }
    const exercises = Object.fromEntries(listExercises().map((e) => [e.id, readServiceNeeds(e.dir).redis]));
    expect(exercises['01']).toBeUndefined();
    expect(exercises['02']).toBeUndefined();
    expect(exercises['03']).toBe('required');
  });
});

describe('Redis down', { timeout: 180_000 }, () => {
  it('verify 01 runs (exercise 01 never uses Redis), and the solution passes', async () => {
    const { env } = await redisDown();
    cpSync(join(REPO_ROOT, 'solutions/01-validate-input/src'), learner.src('01-validate-input'), { recursive: true });
    try {
      const { code, out } = await cachelab(['verify', '01'], env);
      expect(out).not.toMatch(/Redis/);
      expect(out).toMatch(/✓ 01 validate-input passed/);
      expect(code).toBe(0);
    } finally {
      rmSync(join(learner.root, 'exercises'), { recursive: true, force: true });
    }
  });

  it('verify 03 refuses in one line: what is down, who uses it, the fix', async () => {
    const { port, env } = await redisDown();
    const { code, out } = await cachelab(['verify', '03'], env);
    expect(out.trim()).toBe(
      `✗ Can't reach Redis: nothing listens on 127.0.0.1:${port} (exercise 03 uses it). Start it with \`docker compose up -d\` or \`npx cachelab services up\`, or set REDIS_URL.`,
    );
    expect(code).toBe(1);
  });

  it('run 01 starts without a word about Redis', async () => {
    const { env } = await redisDown();
    const { run, res } = await runAndGet('01', env);
    expect(res.status).toBe(200);
    expect(run.out).not.toMatch(/Redis/);
    run.child.kill('SIGTERM');
    expect(await run.exit(15_000)).toBe(0);
  });

  it('run 03 warns and starts: its answers are X-Cache: BYPASS until Redis is back', async () => {
    const { port, env } = await redisDown();
    const { run, res } = await runAndGet('03', env);
    expect(res.headers.get('x-cache')).toBe('BYPASS');
    expect(run.out).toContain(
      `! Redis: nothing listens on 127.0.0.1:${port}. Lesson 03 starts anyway: answers that would come from Redis will be X-Cache: BYPASS (from PostgreSQL) until Redis is back`,
    );
    run.child.kill('SIGTERM');
    expect(await run.exit(15_000)).toBe(0);
  });

  it('run 04 refuses: its server cannot start without Redis', async () => {
    const { port, env } = await redisDown();
    const { code, out } = await cachelab(['run', '04', '--port', '0'], env);
    expect(out.trim()).toMatch(
      new RegExp(
        `^✗ Can't reach Redis: nothing listens on 127\\.0\\.0\\.1:${port} \\(lesson 04 uses it\\)\\. Start it`,
      ),
    );
    expect(code).toBe(1);
  });

  it('the home screen says what still works without it', async () => {
    const { port } = await redisDown();
    const saved = process.env.REDIS_URL;
    process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
    try {
      const notes = await homeNotes();
      expect(notes).toEqual([
        expect.stringMatching(
          new RegExp(
            `^Redis: nothing listens on 127\\.0\\.0\\.1:${port}\\. Start it .* Without it, lessons 01, 02 and exercises 01, 02, 08, 09, 10, 11, 15 still work\\.$`,
          ),
        ),
      ]);
    } finally {
      if (saved === undefined) delete process.env.REDIS_URL;
      else process.env.REDIS_URL = saved;
    }
  });
});

describe('PostgreSQL down', { timeout: 120_000 }, () => {
  it('run 01 refuses with the fix; doctor says "nothing listens on", not ECONNREFUSED', async () => {
    const port = await freePort();
    const env = { ...learner.env, DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/cachelab` };
    const run = await cachelab(['run', '01', '--port', '0'], env);
    expect(run.out.trim()).toBe(
      `✗ Can't reach PostgreSQL: nothing listens on 127.0.0.1:${port} (lesson 01 uses it). Start it with \`docker compose up -d\` or \`npx cachelab services up\`, or set DATABASE_URL.`,
    );
    expect(run.code).toBe(1);
    const doctor = await cachelab(['doctor'], env);
    expect(doctor.out).toContain(
      `✗ PostgreSQL: nothing listens on 127.0.0.1:${port}. Start it with \`docker compose up -d\` or \`npx cachelab services up\`, or set DATABASE_URL.`,
    );
    expect(doctor.out).not.toMatch(/ECONNREFUSED/);
    expect(doctor.code).toBe(1);
  });
});

describe('a database that does not exist yet', { timeout: 240_000 }, () => {
  it('doctor: the server answers, the database does not exist yet; the home screen says the first command seeds it', async () => {
    const db = freshDatabase('doctor');
    const { code, out } = await cachelab(['doctor'], { ...learner.env, DATABASE_URL: db.url });
    expect(out).toMatch(/^✓ PostgreSQL server answers at 127\.0\.0\.1:5432$/m);
    expect(out).not.toContain(`✓ PostgreSQL at 127.0.0.1:5432/${db.name}`);
    expect(out).toContain(`✗ The database \`${db.name}\` does not exist yet on 127.0.0.1:5432.`);
    expect(code).toBe(1);
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = db.url;
    try {
      expect(await homeNotes()).toEqual([
        `The database ${db.name} on 127.0.0.1:5432 does not exist yet: the first demo, run or verify creates and seeds it (a few seconds), or do it now with \`npx cachelab db seed\`.`,
      ]);
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
  });

  it('run 01 creates and seeds it, saying so, then serves from it', async () => {
    const db = freshDatabase('run');
    try {
      const env = { ...learner.env, DATABASE_URL: db.url, CACHELAB_SEED_ROWS: '1000' };
      const { run, res } = await runAndGet('01', env, '/employees/42');
      expect(res.status).toBe(200);
      expect(run.out).toContain(
        `› The database ${db.name} on 127.0.0.1:5432 does not exist yet: creating and seeding it (1,000 payments`,
      );
      expect(run.out).toMatch(new RegExp(`✓ Seeded ${db.name} in [\\d.]+ s\\.`));
      run.child.kill('SIGTERM');
      expect(await run.exit(15_000)).toBe(0);
      const again = await cachelab(['doctor'], env);
      expect(again.out).toMatch(new RegExp(`✓ Database ${db.name} seeded: 10,000 employees, 1,000 payments`));
    } finally {
      await db.drop();
    }
  });
});

describe('Ctrl-C', { timeout: 120_000 }, () => {
  it('run 01: a client still downloading the 17.8 MB answer gets all of it, then the server closes', async () => {
    const port = await freePort();
    // Its own process group, so that a Ctrl-C can reach the CLI and the lesson's server at
    // once, as a terminal's does.
    const child = spawn(process.execPath, [BIN, 'run', '01', '--port', String(port)], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...learner.env, CI: 'true', NO_COLOR: '1' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      for (let i = 0; i < 300 && !out.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 200));
      const res = await new Promise<IncomingMessage>((resolve, reject) =>
        request(
          `http://127.0.0.1:${port}/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000`,
          resolve,
        )
          .on('error', reject)
          .end(),
      );
      res.pause(); // headers in, the body still to come: a slow client
      process.kill(-(child.pid as number), 'SIGINT');
      await new Promise((r) => setTimeout(r, 500));
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      const complete = await new Promise<boolean>((resolve) => {
        res.on('end', () => resolve(res.complete));
        res.on('aborted', () => resolve(false));
        res.on('error', () => resolve(false));
        res.resume();
      });
      expect(complete, out).toBe(true);
      expect(bytes).toBe(Number(res.headers['content-length']));
      expect(await exited).toBe(0);
      expect(out).toMatch(/SIGINT: not accepting new connections; letting 1 request in flight finish \(at most 10 s/);
    } finally {
      if (child.exitCode === null) process.kill(-(child.pid as number), 'SIGKILL');
    }
  });

  it('watch: stopped while it is still checking the services, it says what q says', async () => {
    // PostgreSQL that takes every byte and answers none: the check waits for its timeout.
    const proxy = await startChaosProxy({ upstream: databaseUrl() });
    proxy.blackhole();
    try {
      const watch = new Running(['watch', '01'], { ...learner.env, DATABASE_URL: proxy.url });
      running.push(watch);
      for (let i = 0; i < 200 && proxy.stats.connections === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(proxy.stats.connections, 'watch is checking PostgreSQL').toBeGreaterThan(0);
      watch.child.kill('SIGINT');
      expect(await watch.exit(10_000)).toBe(0);
      expect(watch.out.trim()).toBe('Stopped watching. Carry on any time with `npx cachelab watch`.');
    } finally {
      await proxy.close();
    }
  });
});
