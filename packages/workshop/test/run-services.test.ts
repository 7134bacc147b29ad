import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPool, ensureDatabase, type Pool, type PoolClient, probeDatabase, seedIfEmpty } from '@cachelab/db';
import { createGenerations, SET_IF_GENERATION_SHA } from '@cachelab/lesson-04-hierarchical/generation';
import { connectRedis, createIsolatedDatabase, createIsolatedRedis, freePort, isolationId } from '@cachelab/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunServices, type RunServices, sweepStaleRunServices } from '../src/grade/sandbox/run-services.ts';

const FORWARD = fileURLToPath(new URL('../src/grade/sandbox/forward.mjs', import.meta.url));

/** A run as the sandbox would see it: its services, and a forwarder on free ports in front of their sockets. */
interface TestRun {
  services: RunServices;
  /** env with the forwarder's ports in place of the real servers' (outside a sandbox those are taken). */
  env: Record<string, string> & { DATABASE_URL: string; REDIS_URL: string; CACHELAB_REDIS_PREFIX: string };
  role: string;
  forwarder: ChildProcess;
  close(): Promise<void>;
}

const runs: TestRun[] = [];
const admin = createPool({ max: 2 });
const adminRedis = connectRedis();

afterAll(async () => {
  await Promise.allSettled(runs.map((r) => r.close()));
  await admin.end();
  adminRedis.disconnect();
});

async function startForwarder(pairs: string[], env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  const child = spawn(process.execPath, [FORWARD, ...pairs], { stdio: ['ignore', 'pipe', 'pipe'], env });
  await new Promise<void>((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.stdout?.on('data', (d) => {
      if (String(d).includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`forward.mjs exited ${code}: ${stderr}`)));
  });
  return child;
}

async function startRun(): Promise<TestRun> {
  const runId = `vt_${isolationId()}`;
  const socketDir = await mkdtemp(join(tmpdir(), 'cl-'));
  const services = await createRunServices({ runId, socketDir });
  const [pgPort, redisPort] = [await freePort(), await freePort()];
  const forwarder = await startForwarder([
    `127.0.0.1:${pgPort}=${services.sockets.postgres}`,
    `127.0.0.1:${redisPort}=${services.sockets.redis}`,
  ]);
  const env = {
    ...services.env,
    DATABASE_URL: services.env.DATABASE_URL!.replace(`:${services.listen.postgres.port}/`, `:${pgPort}/`),
    PGPORT: String(pgPort),
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    CACHELAB_REDIS_PREFIX: services.env.CACHELAB_REDIS_PREFIX!,
  };
  const run: TestRun = {
    services,
    env,
    role: services.env.PGUSER!,
    forwarder,
    async close() {
      forwarder.kill();
      await services.dispose();
      await rm(socketDir, { recursive: true, force: true });
    },
  };
  runs.push(run);
  return run;
}

/** Run `fn` with `env` in process.env (the test kit reads DATABASE_URL, REDIS_URL and the prefix there). */
async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Send `bytes` to a Unix socket; resolve with what came back once `done` says so, or the socket closed. */
function exchange(
  path: string,
  bytes: Buffer | Buffer[],
  done: (received: Buffer) => boolean,
  timeoutMs = 3000,
): Promise<{ received: Buffer; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`no complete answer within ${timeoutMs} ms; got ${JSON.stringify(received.toString('latin1'))}`),
      );
    }, timeoutMs);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ received, closed });
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (done(received)) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => {});
    socket.on('connect', async () => {
      // Several buffers are written one by one with a pause, so the proxy sees split packets.
      for (const part of Array.isArray(bytes) ? bytes : [bytes]) {
        socket.write(part);
        if (Array.isArray(bytes)) await new Promise((r) => setTimeout(r, 2));
      }
    });
  });
}

function startupPacket(params: [string, string][], code = 196608): Buffer {
  const body = Buffer.from(`${params.map(([k, v]) => `${k}\0${v}\0`).join('')}\0`);
  const header = Buffer.alloc(8);
  header.writeInt32BE(body.length + 8, 0);
  header.writeInt32BE(code, 4);
  return Buffer.concat([header, body]);
}

const database = () =>
  decodeURIComponent(new URL(process.env.DATABASE_URL ?? 'x:/cachelab').pathname.slice(1)) || 'cachelab';

describe('PostgreSQL through the proxy, as the run role', () => {
  let run: TestRun;
  let db: Pool;
  beforeAll(async () => {
    run = await startRun();
    db = createPool({ url: run.env.DATABASE_URL, max: 2 });
  });
  afterAll(() => db.end());

  it('creates its own schema and copies employees into it, as the test kit does for each test file', async () => {
    await withEnv(run.env, async () => {
      const isolated = await createIsolatedDatabase();
      try {
        const { rows } = await isolated.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM employees');
        expect(rows[0]?.n).toBeGreaterThan(0);
        const inserted = await isolated.pool.query<{ id: number }>(
          "INSERT INTO employees (name, email, department, status) VALUES ('Ada', 'ada@example.com', 'Engineering', 'in') RETURNING id",
        );
        expect(inserted.rows[0]?.id, 'the copy’s sequence continues after the copied ids').toBeGreaterThan(rows[0]!.n);
        const owner = await admin.query(
          'SELECT nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname = $1',
          [isolated.schema],
        );
        expect(owner.rows[0]?.owner).toBe(run.role);
      } finally {
        await isolated.dispose();
      }
    });
  });

  it('passes the test kit’s global set-up: probe, ensureDatabase and seedIfEmpty only read', async () => {
    expect(await probeDatabase(run.env.DATABASE_URL)).toBeNull();
    await ensureDatabase(run.env.DATABASE_URL);
    expect(await seedIfEmpty(db)).toBe(false);
  });

  it('reads every table in public', async () => {
    for (const table of ['employees', 'investors', 'borrower_payments', 'cachelab_seed', 'cachelab_migrations']) {
      await expect(db.query(`SELECT * FROM public.${table} LIMIT 1`), table).resolves.toBeTruthy();
    }
  });

  it.each([
    ["INSERT INTO public.employees (name, email, department, status) VALUES ('x', 'x@x', 'x', 'in')"],
    ['UPDATE public.employees SET name = name WHERE id = 1'],
    ['DELETE FROM public.employees WHERE id = 1'],
    ['TRUNCATE public.cachelab_seed'],
    ['DROP TABLE public.employees'],
    ['ALTER TABLE public.employees ADD COLUMN x int'],
    ['CREATE TABLE public.sneaky (id int)'],
    ['CREATE FUNCTION public.now() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$'],
    ['CREATE ROLE sneaky SUPERUSER'],
    ['CREATE DATABASE sneaky'],
    ['SET ROLE postgres'],
    ['SET SESSION AUTHORIZATION postgres'],
  ])('may not %s', async (sql) => {
    await expect(db.query(sql)).rejects.toMatchObject({ code: expect.stringMatching(/^42501$|^42P01$/) });
  });

  it.each([['-c role=postgres'], ['-c session_authorization=postgres']])(
    'cannot become postgres through the startup options %s',
    async (options) => {
      const url = new URL(run.env.DATABASE_URL);
      url.searchParams.set('options', options);
      const sneaky = createPool({ url: url.toString(), max: 1 });
      try {
        const me = await sneaky.query('SELECT current_user AS me, session_user AS session').then(
          (r) => r.rows[0],
          (err: { code?: string }) => err.code,
        );
        expect(me).toMatch(/^42501$|^28000$/);
      } finally {
        await sneaky.end();
      }
    },
  );

  it('cannot read another run’s schema', async () => {
    const other = await startRun();
    const otherDb = createPool({ url: other.env.DATABASE_URL, max: 1 });
    try {
      const schema = `t_${isolationId()}`;
      await otherDb.query(`CREATE SCHEMA ${schema}`);
      await otherDb.query(`CREATE TABLE ${schema}.secrets AS SELECT 42 AS answer`);
      await expect(db.query(`SELECT * FROM ${schema}.secrets`)).rejects.toMatchObject({ code: '42501' });
      await expect(db.query(`DROP SCHEMA ${schema} CASCADE`)).rejects.toMatchObject({ code: '42501' });
    } finally {
      await otherDb.end();
    }
  });

  it('refuses a startup as postgres with a FATAL 28000 that says which role is allowed', async () => {
    const asPostgres = createPool({ url: run.env.DATABASE_URL.replace(run.role, 'postgres'), max: 1 });
    try {
      await expect(asPostgres.query('SELECT 1')).rejects.toMatchObject({
        code: '28000',
        severity: 'FATAL',
        message: expect.stringContaining(`the grading sandbox only allows the role ${run.role}`),
      });
    } finally {
      await asPostgres.end();
    }
  });

  it('refuses a database other than the workshop’s and postgres', async () => {
    const url = new URL(run.env.DATABASE_URL);
    url.pathname = '/template1';
    const other = createPool({ url: url.toString(), max: 1 });
    try {
      await expect(other.query('SELECT 1')).rejects.toMatchObject({ code: '3D000' });
    } finally {
      await other.end();
    }
  });

  it('refuses a startup packet that names user twice, rather than guess which one the server takes', async () => {
    const packet = startupPacket([
      ['user', run.role],
      ['database', database()],
      ['user', 'postgres'],
    ]);
    const { received } = await exchange(run.services.sockets.postgres, packet, () => false);
    expect(received.toString('latin1', 0, 1)).toBe('E');
    expect(received.toString('latin1')).toContain('C08P01');
  });

  it('answers SSLRequest and GSSENCRequest with N, then lets the same connection start up', async () => {
    const request = (code: number) => {
      const b = Buffer.alloc(8);
      b.writeInt32BE(8, 0);
      b.writeInt32BE(code, 4);
      return b;
    };
    const ssl = await exchange(run.services.sockets.postgres, request(80877103), (r) => r.length >= 1);
    expect(ssl.received.toString('latin1')).toBe('N');
    // One connection: SSL refused, GSS refused, then the startup; the server's first answer is 'R' (authentication).
    const socket = connect(run.services.sockets.postgres);
    const answers: string[] = [];
    await new Promise<void>((resolve, reject) => {
      let buffered = Buffer.alloc(0);
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (answers.length === 0 && buffered[0] === 0x4e) {
          answers.push('N');
          buffered = buffered.subarray(1);
          socket.write(request(80877104));
        }
        if (answers.length === 1 && buffered[0] === 0x4e) {
          answers.push('N');
          buffered = buffered.subarray(1);
          socket.write(
            startupPacket([
              ['user', run.role],
              ['database', database()],
            ]),
          );
        }
        if (answers.length === 2 && buffered.length > 0) {
          answers.push(String.fromCharCode(buffered[0] as number));
          resolve();
        }
      });
      socket.write(request(80877103));
    });
    socket.destroy();
    expect(answers).toEqual(['N', 'N', 'R']);
  });

  it('a pg client that insists on SSL is told there is none; one with ssl: false connects', async () => {
    const insisting = createPool({ url: `${run.env.DATABASE_URL}?sslmode=require`, max: 1 });
    try {
      await expect(insisting.query('SELECT 1')).rejects.toThrow(/does not support SSL/);
    } finally {
      await insisting.end();
    }
    const plain = createPool({ url: `${run.env.DATABASE_URL}?sslmode=disable`, max: 1 });
    try {
      expect((await plain.query('SELECT current_user AS me')).rows[0]?.me).toBe(run.role);
    } finally {
      await plain.end();
    }
  });

  it('forwards a CancelRequest: a long query of the run is cancelled', async () => {
    // pg keeps the backend's key data on the client; its types do not declare it.
    const client = (await db.connect()) as PoolClient & { processID: number; secretKey: number };
    try {
      const sleeping = client.query('SELECT pg_sleep(20)').catch((err: unknown) => err);
      await new Promise((r) => setTimeout(r, 200));
      const cancel = Buffer.alloc(16);
      cancel.writeInt32BE(16, 0);
      cancel.writeInt32BE(80877102, 4);
      cancel.writeInt32BE(client.processID, 8);
      cancel.writeInt32BE(client.secretKey, 12);
      await exchange(run.services.sockets.postgres, cancel, () => false);
      expect(await sleeping).toMatchObject({ code: '57014' });
    } finally {
      client.release();
    }
  });
});

/** Replies in a RESP2 byte stream: simple lines, and bulk strings with their data line. Enough for these tests. */
function replies(received: Buffer): string[] {
  const lines = received.toString('latin1').split('\r\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length - 1; i++) {
    const line = lines[i] as string;
    if (line.startsWith('$') && line !== '$-1') out.push(`$${lines[++i]}`);
    else out.push(line);
  }
  return out;
}

function resp(...args: string[]): Buffer {
  return Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
}

describe('Redis through the proxy, as the run’s ACL user', () => {
  let run: TestRun;
  let prefix: string;
  let redis: ReturnType<typeof connectRedis>;
  beforeAll(async () => {
    run = await startRun();
    prefix = run.services.env.CACHELAB_REDIS_PREFIX!;
    redis = connectRedis({ url: run.env.REDIS_URL });
  });
  afterAll(() => redis.disconnect());

  it('reads and writes keys under its prefix, SCANs them, and publishes and subscribes under it', async () => {
    await redis.set(`${prefix}a`, '1', 'PX', 60_000);
    expect(await redis.get(`${prefix}a`)).toBe('1');
    // Every page of the SCAN: on a shared Redis with many keys, the first page of 1,000
    // examined slots may hold none of ours (CI failed on exactly that).
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, page] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      keys.push(...page);
      cursor = next;
    } while (cursor !== '0');
    expect(keys).toContain(`${prefix}a`);
    const subscriber = connectRedis({ url: run.env.REDIS_URL });
    try {
      const got = new Promise<string>((resolve) => subscriber.on('message', (_channel, message) => resolve(message)));
      await subscriber.subscribe(`${prefix}bus`);
      expect(await redis.publish(`${prefix}bus`, 'hello')).toBe(1);
      expect(await got).toBe('hello');
      await expect(subscriber.subscribe('elsewhere')).rejects.toThrow(/NOPERM/);
    } finally {
      subscriber.disconnect();
    }
  });

  it('gets NOPERM for a key or a channel outside its prefix', async () => {
    await expect(redis.get('cachelab:test:someone-else')).rejects.toThrow(/NOPERM/);
    await expect(redis.set('outside', '1')).rejects.toThrow(/NOPERM/);
    await expect(redis.publish('outside', 'x')).rejects.toThrow(/NOPERM/);
  });

  it.each([
    ['KEYS', '*'],
    ['CONFIG', 'GET', 'maxmemory'],
    ['SCRIPT', 'EXISTS', 'abc'],
    ['EVAL', 'return 1', '0'],
    ['ACL', 'WHOAMI'],
    ['DEBUG', 'SLEEP', '0'],
    ['SELECT', '1'],
    ['CLIENT', 'LIST'],
    ['MONITOR'],
  ])('is refused %s', async (...command) => {
    // DEBUG is refused by the server's enable-debug-command (default no) before the ACL is asked.
    await expect(redis.call(...(command as [string, ...string[]]))).rejects.toThrow(/NOPERM|DEBUG command not allowed/);
  });

  it("runs the course's own script (lesson 04's generation guard) by EVALSHA, and no other, nor outside its prefix", async () => {
    // Exercises 06 and 07 use lesson 04's cache, whose guard runs this script.
    const cache = createGenerations(redis);
    expect(await cache.setIfCurrent(`${prefix}v`, `${prefix}v#generation`, Buffer.from('x'), 60_000, '0')).toBe(
      'stored',
    );
    expect(await redis.get(`${prefix}v`)).toBe('x');
    await expect(
      redis.evalsha(SET_IF_GENERATION_SHA, 2, 'outside', 'outside#generation', 'x', 1000, '0'),
      'a script reaches only the keys the ACL gives the run',
    ).rejects.toThrow(/NOPERM/);
    const own = createHash('sha1').update('while true do end').digest('hex');
    await expect(redis.evalsha(own, 0), 'a script Redis does not hold').rejects.toThrow(/NOSCRIPT/);
    await expect(redis.call('SCRIPT', 'LOAD', 'while true do end'), 'nor can the run load one').rejects.toThrow(
      /NOPERM/,
    );
  });

  it.each([['FLUSHALL'], ['FLUSHDB'], ['SHUTDOWN'], ['DEBUG', 'SEGFAULT'], ['CONFIG', 'SET', 'maxmemory', '1']])(
    'may not %s (asked with ACL DRYRUN: not worth the risk of sending it)',
    async (...command) => {
      const user = `cachelab-run-${run.role.slice('cachelab_run_'.length)}`;
      expect(String(await adminRedis.call('ACL', 'DRYRUN', user, ...command))).toMatch(/no permissions/);
    },
  );

  it('keeps the run’s user after AUTH default, HELLO 3 AUTH default and RESET, pipelined, answering each in order', async () => {
    const commands = [
      resp('SET', `${prefix}p`, 'v'),
      resp('AUTH', 'default', 'x'),
      resp('GET', `${prefix}p`),
      resp('HELLO', '3', 'AUTH', 'default', 'x'),
      Buffer.from('auth default x\r\n'),
      Buffer.from('"RESET"\r\n'),
      resp('reset'),
      resp('GET', 'outside'),
      Buffer.from('PING\r\n'),
    ];
    const expected = [
      '+OK',
      expect.stringMatching(/^-ERR unknown command 'CACHELAB_SANDBOX_DENIES_AUTH'/),
      '$v',
      expect.stringMatching(/^-ERR unknown command/),
      expect.stringMatching(/^-ERR unknown command/),
      expect.stringMatching(/^-ERR unknown command/),
      expect.stringMatching(/^-ERR unknown command/),
      expect.stringMatching(/^-NOPERM/),
      '+PONG',
    ];
    const whole = await exchange(run.services.sockets.redis, Buffer.concat(commands), (r) => replies(r).length >= 9);
    expect(replies(whole.received)).toEqual(expected);
    // The same bytes a few at a time: the parser must not care where packets split.
    const all = Buffer.concat(commands);
    const pieces: Buffer[] = [];
    for (let i = 0; i < all.length; i += 3) pieces.push(all.subarray(i, i + 3));
    const split = await exchange(run.services.sockets.redis, pieces, (r) => replies(r).length >= 9, 5000);
    expect(replies(split.received)).toEqual(expected);
  });

  it('keeps the run’s user after an ioredis client sends AUTH itself', async () => {
    await expect(redis.call('AUTH', 'default', 'x')).rejects.toThrow(/unknown command/);
    await expect(redis.get('outside')).rejects.toThrow(/NOPERM/);
    // A denied AUTH inside MULTI fails the whole transaction, as any unknown command does.
    await expect(redis.multi().call('AUTH', 'default', 'x').set(`${prefix}m`, '1').exec()).rejects.toThrow(/EXECABORT/);
  });

  it('passes a 5 MiB value through unchanged', async () => {
    const value = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = (i * 31) & 0xff;
    await redis.set(`${prefix}big`, value);
    expect(Buffer.compare((await redis.getBuffer(`${prefix}big`))!, value)).toBe(0);
  });

  it('closes a connection that does not speak RESP', async () => {
    const { closed } = await exchange(run.services.sockets.redis, Buffer.from('*1\r\n$4\r\nPINGxx'), () => false);
    expect(closed).toBe(true);
    const tooLong = await exchange(run.services.sockets.redis, Buffer.from('*99999999999999\r\n'), () => false);
    expect(tooLong.closed).toBe(true);
  });
});

describe('createRunServices', () => {
  it('creates runs in parallel (their GRANTs on the same tables are serialised)', async () => {
    const parallel = await Promise.all([startRun(), startRun(), startRun(), startRun()]);
    for (const run of parallel) {
      const db = createPool({ url: run.env.DATABASE_URL, max: 1 });
      try {
        expect((await db.query('SELECT current_user AS me FROM public.employees LIMIT 1')).rows[0]?.me).toBe(run.role);
      } finally {
        await db.end();
      }
    }
    await Promise.all(parallel.map((run) => run.services.dispose()));
  });

  it('refuses a run id that is not a plain name, naming the rule', async () => {
    await expect(createRunServices({ runId: 'x; DROP ROLE postgres', socketDir: '/tmp/never' })).rejects.toThrow(
      /runId must be 1 to 40 lower-case letters/,
    );
  });
});

describe('dispose', () => {
  it('removes the role, its schemas, the ACL user and its keys, even with a session still open; twice is harmless', async () => {
    const run = await startRun();
    const prefix = run.services.env.CACHELAB_REDIS_PREFIX!;
    const user = `cachelab-run-${run.role.slice('cachelab_run_'.length)}`;
    const db = createPool({ url: run.env.DATABASE_URL, max: 2 });
    const redis = connectRedis({ url: run.env.REDIS_URL, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => {});
    const schema = `t_${isolationId()}`;
    await db.query(`CREATE SCHEMA ${schema}`);
    await db.query(`CREATE TABLE ${schema}.employees (LIKE public.employees INCLUDING ALL)`);
    // A run killed mid-test: a transaction left open, holding a lock on its table.
    const stuck = await db.connect();
    stuck.on('error', () => {});
    await stuck.query('BEGIN');
    await stuck.query(`LOCK TABLE ${schema}.employees`);
    await redis.set(`${prefix}x`, '1');

    expect(await run.services.dispose()).toEqual([]);
    expect(await run.services.dispose(), 'a second dispose').toEqual([]);

    const role = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [run.role]);
    expect(role.rowCount, 'the role is still there').toBe(0);
    const schemas = await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    expect(schemas.rowCount, 'the run’s schema is still there').toBe(0);
    expect(await adminRedis.call('ACL', 'GETUSER', user)).toBeNull();
    expect(await adminRedis.exists(`${prefix}x`)).toBe(0);
    for (const path of [run.services.sockets.redis, run.services.sockets.postgres]) {
      const outcome = await new Promise<string>((resolve) => {
        const socket = connect(path);
        socket.on('connect', () => resolve('connected'));
        socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      });
      expect(outcome, `${path} still accepts connections`).toBe('ENOENT');
    }
    stuck.release(true);
    await db.end().catch(() => {});
    redis.disconnect();
  });
});

describe('sweepStaleRunServices', () => {
  it('removes what a killed grader left of runs that are not active, and leaves active runs alone', async () => {
    const stale = await startRun();
    const kept = await startRun();
    const staleId = stale.role.slice('cachelab_run_'.length);
    const staleDb = createPool({ url: stale.env.DATABASE_URL, max: 1 });
    await staleDb.query(`CREATE SCHEMA t_${isolationId()}`);
    await staleDb.end();
    await adminRedis.set(`${stale.env.CACHELAB_REDIS_PREFIX}left`, '1');
    stale.forwarder.kill();

    // Every other run counts as active: other graders and test runs may share these
    // servers, and their runs are none of this test's business.
    const report = await sweepStaleRunServices((id) => id !== staleId);

    expect(report.failures).toEqual([]);
    expect(report.removed).toContain(staleId);
    expect((await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [stale.role])).rowCount).toBe(0);
    expect(await adminRedis.exists(`${stale.env.CACHELAB_REDIS_PREFIX}left`)).toBe(0);
    expect((await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [kept.role])).rowCount).toBe(1);
  });
});

describe('forward.mjs', () => {
  it('exits 1 and says why when it cannot listen', async () => {
    const port = await freePort();
    const blocker = await startForwarder([`127.0.0.1:${port}=/nonexistent.sock`]);
    try {
      await expect(startForwarder([`127.0.0.1:${port}=/nonexistent.sock`])).rejects.toThrow(
        /exited 1: .*cannot listen/,
      );
    } finally {
      blocker.kill();
    }
  });

  it('closes only the connection whose socket is missing', async () => {
    const port = await freePort();
    const forwarder = await startForwarder([], {
      ...process.env,
      CACHELAB_FORWARD: `127.0.0.1:${port}=/nonexistent.sock`,
    });
    try {
      for (let i = 0; i < 2; i++) {
        await new Promise<void>((resolve) => {
          const socket = connect(port, '127.0.0.1');
          socket.on('error', () => resolve());
          socket.on('close', () => resolve());
        });
      }
      expect(forwarder.exitCode, 'the forwarder died with one connection').toBeNull();
    } finally {
      forwarder.kill();
    }
  });
});

describe('end to end, as the sandboxed run would connect', () => {
  it('a pg Pool, ioredis and the test kit’s isolation work through the forwarder with only the run’s env', async () => {
    const run = await startRun();
    await withEnv(run.env, async () => {
      const pool = createPool();
      const redis = connectRedis();
      const isolatedRedis = createIsolatedRedis();
      try {
        expect((await pool.query('SELECT current_user AS me')).rows[0]?.me).toBe(run.role);
        const { rows } = await pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM borrower_payments WHERE investor_id = $1',
          ['DEMO_INV'],
        );
        expect(rows[0]?.n).toBeGreaterThan(0);
        expect(isolatedRedis.prefix.startsWith(run.env.CACHELAB_REDIS_PREFIX)).toBe(true);
        await isolatedRedis.redis.set(`${isolatedRedis.prefix}k`, 'v');
        expect(await isolatedRedis.keys()).toEqual([`${isolatedRedis.prefix}k`]);
        expect(await redis.ping()).toBe('PONG');
        await isolatedRedis.dispose();
        expect(await adminRedis.exists(`${isolatedRedis.prefix}k`)).toBe(0);
      } finally {
        await pool.end();
        redis.disconnect();
      }
    });
  });
});
