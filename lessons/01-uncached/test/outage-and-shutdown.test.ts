import { request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { databaseUrl } from '@cachelab/db';
import { serve, startChaosProxy } from '@cachelab/testkit';
import express from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app.ts';
import { createDatabaseOutage, errorHandler } from '../src/problem.ts';
import { answerClientErrors, createShutdown, serveLesson } from '../src/serve.ts';

/**
 * What a learner sees in the terminal of `cachelab run 01` when PostgreSQL goes away and comes
 * back, and what a client that is downloading gets when the learner presses Ctrl-C.
 */

const CLASSIC = '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Every line console.log / warn / error printed from now on, as text. */
function capture(): string[] {
  const lines: string[] = [];
  for (const method of ['log', 'warn', 'error'] as const)
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
  return lines;
}

/** GET `path`, resolving once the status line and headers are in (the body not read yet). */
function get(port: number, path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path }, resolve);
    req.on('error', reject);
    req.end();
  });
}

/** The body's length, and whether it ended or was cut off. */
function drain(res: IncomingMessage): Promise<{ bytes: number; complete: boolean }> {
  return new Promise((resolve) => {
    let bytes = 0;
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    res.on('end', () => resolve({ bytes, complete: res.complete }));
    res.on('error', () => resolve({ bytes, complete: false }));
    res.on('aborted', () => resolve({ bytes, complete: false }));
  });
}

const port = (server: Server) => (server.address() as AddressInfo).port;

describe('a PostgreSQL outage in the server log', () => {
  it('is one line when it starts (the reason and the fix, no stack), a count while it lasts, one line when it ends', () => {
    const lines: string[] = [];
    let now = 1_000;
    const outage = createDatabaseOutage((line) => lines.push(line), { now: () => now });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5499'), { code: 'ECONNREFUSED' });
    outage.failed(refused);
    now += 4_000;
    outage.failed(refused);
    outage.failed(refused);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^⚠ Can't reach PostgreSQL: nothing listens on 127\.0\.0\.1:5499\. Answering 503/);
    expect(lines[0]).toContain('npx cachelab services up');
    expect(lines[0]).not.toContain('\n');
    now += 8_000;
    outage.recovered();
    outage.recovered();
    expect(lines[1]).toBe('✓ PostgreSQL is back after 12 s; 3 requests were answered 503 meanwhile.');
    expect(lines).toHaveLength(2);
  });

  it('names `db seed` when the server answers but the database does not exist', () => {
    const lines: string[] = [];
    const outage = createDatabaseOutage((line) => lines.push(line));
    outage.failed(Object.assign(new Error('database "cachelab_x" does not exist'), { code: '3D000' }));
    expect(lines[0]).toMatch(/database "cachelab_x" does not exist.*npx cachelab db seed/);
  });

  it('without a server that says when PostgreSQL is back, logs again once it has been quiet for a while', () => {
    const lines: string[] = [];
    let now = 0;
    const outage = createDatabaseOutage((line) => lines.push(line), { now: () => now, quietMs: 30_000 });
    outage.failed(new Error('Connection terminated unexpectedly'));
    now += 10_000;
    outage.failed(new Error('Connection terminated unexpectedly'));
    now += 31_000;
    outage.failed(new Error('Connection terminated unexpectedly'));
    expect(lines).toHaveLength(2);
  });

  it('keeps the stack of an unexpected error (a real 500)', async () => {
    const logged: unknown[] = [];
    const app = express();
    app.get('/boom', () => {
      throw new TypeError('a bug');
    });
    app.use(errorHandler({ log: (err) => logged.push(err) }));
    const http = await serve(app);
    try {
      expect((await http.get('/boom')).status).toBe(500);
      expect(logged[0]).toBeInstanceOf(TypeError);
      expect((logged[0] as Error).stack).toContain('outage-and-shutdown.test.ts');
    } finally {
      await http.close();
    }
  });

  it('serveLesson: PostgreSQL goes away for three requests and comes back — two lines in the terminal, 503s meanwhile', async () => {
    const proxy = await startChaosProxy({ upstream: databaseUrl() });
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = proxy.url;
    const before = new Set([...process.listeners('SIGINT'), ...process.listeners('SIGTERM')]);
    const exited = new Promise<number>((resolve) => {
      vi.spyOn(process, 'exit').mockImplementation(((code: number) => resolve(code)) as never);
    });
    const lines = capture();
    try {
      const server = await serveLesson({ lesson: '01-uncached', port: 0, createApp: ({ db }) => createApp({ db }) });
      const p = port(server);
      const status = async () => {
        const res = await get(p, '/employees/42');
        await drain(res);
        return res.statusCode;
      };
      expect(await status()).toBe(200);
      proxy.cut();
      expect([await status(), await status(), await status()]).toEqual([503, 503, 503]);
      proxy.restore();
      expect(await status()).toBe(200);
      const outage = lines.filter((l) => !/^(GET|Lesson|Try:)/.test(l));
      expect(outage, 'no stack trace, no line per request').toEqual([
        expect.stringMatching(/^⚠ Can't reach PostgreSQL: .*Answering 503 until it is back.*npx cachelab services up/),
        expect.stringMatching(/^✓ PostgreSQL is back after \d+ s; 3 requests were answered 503 meanwhile\.$/),
      ]);
      expect(lines.join('\n')).not.toMatch(/^\s+at /m);
      expect(
        lines.filter((l) => /^GET +503 /.test(l)),
        'the request log still shows each 503',
      ).toHaveLength(3);
      process.emit('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
      for (const signal of ['SIGINT', 'SIGTERM'] as const)
        for (const listener of process.listeners(signal)) if (!before.has(listener)) process.off(signal, listener);
      await proxy.close();
    }
  });
});

describe('Ctrl-C while a request is in flight', () => {
  /** A server whose GET /slow sends its headers and a first chunk, then the rest `ms` later (or never). */
  async function slowServer(ms: number | null) {
    const app = express();
    app.get('/slow', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '10' });
      res.write('12345');
      if (ms !== null) setTimeout(() => res.end('67890'), ms);
    });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    return server;
  }

  it('stops accepting, lets the request finish, then closes', async () => {
    const server = await slowServer(300);
    const lines: string[] = [];
    const shutdown = createShutdown(server, { log: (l) => lines.push(l) });
    const at = port(server);
    const res = await get(at, '/slow');
    const body = drain(res);
    expect(shutdown.inFlight()).toBe(1);
    const closed = shutdown.close('SIGINT');
    expect(lines).toEqual([
      'SIGINT: not accepting new connections; letting 1 request in flight finish (at most 10 s; Ctrl-C again to close now)…',
    ]);
    await expect(get(at, '/slow'), 'a new connection is refused').rejects.toThrow(/ECONNREFUSED/);
    expect(await body).toEqual({ bytes: 10, complete: true });
    await closed;
    expect(shutdown.inFlight()).toBe(0);
  });

  it('a second Ctrl-C closes at once, cutting the request', async () => {
    const server = await slowServer(null);
    const lines: string[] = [];
    const shutdown = createShutdown(server, { log: (l) => lines.push(l) });
    const res = await get(port(server), '/slow');
    const body = drain(res);
    const closed = shutdown.close('SIGINT');
    const started = performance.now();
    await shutdown.close('SIGINT');
    await closed;
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await body).toMatchObject({ complete: false });
    expect(lines[1]).toBe('SIGINT again: closing now; 1 request in flight cut off.');
  });

  it('cuts what is still running once the grace period is over, and says so', async () => {
    const server = await slowServer(null);
    const lines: string[] = [];
    const shutdown = createShutdown(server, { graceMs: 200, log: (l) => lines.push(l) });
    const res = await get(port(server), '/slow');
    const body = drain(res);
    const started = performance.now();
    await shutdown.close('SIGTERM');
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(await body).toMatchObject({ complete: false });
    expect(lines).toEqual([
      'SIGTERM: not accepting new connections; letting 1 request in flight finish (at most 0.2 s; Ctrl-C again to close now)…',
      '⚠ 1 request still running after 0.2 s: closing its connection.',
    ]);
  });

  it('closes at once when nothing is in flight, kept-alive idle connections included', async () => {
    const server = await slowServer(0);
    const lines: string[] = [];
    const shutdown = createShutdown(server, { log: (l) => lines.push(l) });
    const agent = new (await import('node:http')).Agent({ keepAlive: true });
    await new Promise<void>((resolve) =>
      httpRequest({ host: '127.0.0.1', port: port(server), path: '/slow', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      }).end(),
    );
    const started = performance.now();
    await shutdown.close('SIGINT');
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(lines).toEqual(['SIGINT: closing the server and connections…']);
    agent.destroy();
  });

  it('serveLesson: the 17.8 MB payments answer a client is still reading arrives whole after SIGINT', async () => {
    const before = new Set([...process.listeners('SIGINT'), ...process.listeners('SIGTERM')]);
    const exited = new Promise<number>((resolve) => {
      vi.spyOn(process, 'exit').mockImplementation(((code: number) => resolve(code)) as never);
    });
    const lines = capture();
    try {
      const server = await serveLesson({ lesson: '01-uncached', port: 0, createApp: ({ db }) => createApp({ db }) });
      const res = await get(port(server), CLASSIC);
      // Headers in, body not read: the server is still writing megabytes this client has not taken.
      res.pause();
      process.emit('SIGINT');
      await new Promise((r) => setTimeout(r, 300));
      res.resume();
      const body = await drain(res);
      expect(res.statusCode).toBe(200);
      expect(body).toEqual({ bytes: Number(res.headers['content-length']), complete: true });
      expect(body.bytes).toBeGreaterThan(1_000_000);
      expect(await exited).toBe(0);
      expect(lines).toContainEqual(expect.stringMatching(/SIGINT: not accepting new connections; letting 1 request/));
    } finally {
      for (const signal of ['SIGINT', 'SIGTERM'] as const)
        for (const listener of process.listeners(signal)) if (!before.has(listener)) process.off(signal, listener);
    }
  });
});

describe('a request the HTTP parser refuses, in the request log', () => {
  it('says what was wrong in words, "headers too large (431)", not HPE_HEADER_OVERFLOW', async () => {
    const app = express();
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const lines: string[] = [];
    answerClientErrors(server, (line) => lines.push(line));
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        let text = '';
        const socket = connect(port(server), '127.0.0.1', () =>
          socket.write(`GET / HTTP/1.1\r\nHost: x\r\nCookie: ${'a'.repeat(20_000)}\r\n\r\n`),
        );
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 431 /);
      expect(lines).toEqual(['?      431 -      (headers too large (431), answered before the app saw it)']);
      expect(lines.join('')).not.toMatch(/HPE_/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
