import { readFileSync } from 'node:fs';
import { type IncomingMessage, maxHeaderSize, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  createPool,
  describeDatabase,
  POSTGRES_FIX,
  type Pool,
  plainConnectionError,
  probeDatabase,
  seedStatus,
} from '@cachelab/db';
import type { Express } from 'express';
import { createDatabaseOutage, DATABASE_OUTAGE } from './problem.ts';

/**
 * How every lesson's `main.ts` runs its app: connect before listening (a missing service
 * is one clear line and exit code 1, not a stack trace on the first request; so is a port
 * that is already taken, which names the next one to try), log each
 * request on one line, answer what node's HTTP parser refuses with problem+json too
 * (`answerClientErrors`), log a PostgreSQL outage as one line when it starts and one when it
 * ends (DatabaseOutage, in problem.ts), and on Ctrl-C / SIGTERM let the requests in flight
 * finish before closing the server and the clients (`createShutdown`).
 */
export interface ServeOptions {
  /**
   * Lesson id for the banner, e.g. '01-uncached'. An exercise's or its solution's main.ts
   * (run from exercises/NN-slug/ or solutions/NN-slug/) is named from its folder and
   * package.json instead: "Exercise NN — title" (see `bannerName`).
   */
  lesson: string;
  /** Build the app once the services are connected. */
  createApp(services: { db: Pool }): Express | Promise<Express>;
  /** Extra clean-up on shutdown (close Redis, …). */
  close?(): Promise<void> | void;
  /** Port: `--port`, else `PORT`, else 3000. 0 picks a free one. */
  port?: number;
  /** The request the banner suggests trying. Default: the classic payments query. */
  example?: string;
  /**
   * The response headers the banner's `curl … | grep` shows, besides the status line. Default
   * `['server-timing', 'x-cache']`, what a cached lesson answers; lesson 01 has no cache and
   * sends no X-Cache, so it shows Server-Timing only.
   */
  headers?: string[];
  /** How long requests in flight may take to finish after Ctrl-C, ms. Default SHUTDOWN_GRACE_MS (10 s). */
  shutdownGraceMs?: number;
}

export function portFromEnv(argv: string[] = process.argv, env: NodeJS.ProcessEnv = process.env): number {
  const flag = argv.findIndex((a) => a === '--port' || a.startsWith('--port='));
  const raw = flag >= 0 ? (argv[flag]?.includes('=') ? argv[flag]?.split('=')[1] : argv[flag + 1]) : env.PORT;
  const port = raw === undefined || raw === '' ? 3000 : Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`✗ The port must be a whole number from 0 to 65535, got "${raw}".`);
    process.exit(2);
  }
  return port;
}

/**
 * The headers a response passed to `writeHead` itself, by lower-case name. A cache hit
 * sends its headers that way (lesson 01's sendJsonBytes), and node does not keep them where
 * `res.getHeader` looks: only what `setHeader` set is there.
 */
function captureWriteHead(res: ServerResponse): Map<string, string> {
  const passed = new Map<string, string>();
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    for (const arg of args) {
      if (Array.isArray(arg)) {
        for (let i = 0; i + 1 < arg.length; i += 2) passed.set(String(arg[i]).toLowerCase(), String(arg[i + 1]));
      } else if (arg && typeof arg === 'object') {
        for (const [name, value] of Object.entries(arg)) passed.set(name.toLowerCase(), String(value));
      }
    }
    // The prototype's writeHead *now*, not when the request arrived: the lesson's app is
    // mounted under this one, Express switches `res` to that app's prototype, and lesson
    // 01's serverTiming() adds its header by patching that prototype's writeHead.
    const writeHead = (Object.getPrototypeOf(this) as ServerResponse).writeHead;
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as typeof res.writeHead;
  return passed;
}

/** One log line per request: method, path, status, X-Cache, Server-Timing total, wall ms. */
export function requestLog(app: Express): void {
  app.use((req, res, next) => {
    const started = performance.now();
    const passed = captureWriteHead(res);
    const header = (name: string) => res.getHeader(name) ?? passed.get(name);
    res.on('finish', () => {
      const cache = String(header('x-cache') ?? '-').padEnd(6);
      const timing = String(header('server-timing') ?? '');
      const parts = timing
        .split(',')
        .map((p) => p.trim())
        .filter((p) => !p.startsWith('total'))
        .map((p) => p.replace(/;desc="[^"]*"/, '').replace(';dur=', ' '))
        .join(' ');
      const ms = (performance.now() - started).toFixed(1).padStart(8);
      console.log(`${req.method.padEnd(6)} ${String(res.statusCode)} ${cache} ${ms} ms  ${req.originalUrl}  ${parts}`);
    });
    next();
  });
}

/** What `clientError` carries: node's parser error codes (`HPE_*`) or its own (`ERR_HTTP_*`). */
type ClientError = Error & { code?: string };

/**
 * The status, reason phrase and detail for a request node's HTTP parser refused (node's own
 * choice of status, with words), and `summary`: a few words for the request log.
 */
function describeClientError(err: ClientError): { status: number; reason: string; detail: string; summary: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        summary: 'headers too large',
        reason: 'Request Header Fields Too Large',
        detail: `The request's headers are larger than this server accepts (${Math.round(maxHeaderSize / 1024)} KiB for the request line and all headers together). Send fewer or shorter headers (a large cookie is the usual suspect).`,
      };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return {
        status: 413,
        summary: 'chunk extensions too large',
        reason: 'Content Too Large',
        detail: 'The chunk extensions of the body are too large.',
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        summary: 'the request did not arrive in time',
        reason: 'Request Timeout',
        detail: 'The request did not arrive completely in time.',
      };
    case 'HPE_INVALID_URL':
      return {
        status: 400,
        summary: 'malformed URL',
        reason: 'Bad Request',
        detail:
          'The URL is malformed: a URL is ASCII, so any other byte (a space, an é) must be percent-encoded as UTF-8 (é is %C3%A9, a space %20).',
      };
    default: {
      const why = err.message.replace(/^Parse Error: /, '').replace(/\.$/, '');
      return {
        status: 400,
        summary: `not valid HTTP/1.1: ${why.charAt(0).toLowerCase()}${why.slice(1)}`,
        reason: 'Bad Request',
        detail: `The request is not valid HTTP/1.1 (${why}).`,
      };
    }
  }
}

/**
 * Answer the requests node's HTTP parser refuses before Express ever sees them (raw non-ASCII
 * bytes in the URL, 16 KiB of headers, a broken request line) with problem+json like every
 * other error, instead of node's bare `400 Bad Request` / `431` with no body; then close the
 * connection, since the rest of its bytes cannot be trusted to be the next request.
 * `log` gets one line per refused request (serveLesson prints it with the request log).
 */
export function answerClientErrors(server: Server, log?: (line: string) => void): void {
  server.on('clientError', (err: ClientError, socket: Duplex) => {
    // The client is gone, or a response is already half-written on this connection: no
    // second status line can be sent, only the connection closed (as node itself does).
    const inProgress = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inProgress?.headersSent) {
      socket.destroy();
      return;
    }
    const { status, reason, detail, summary } = describeClientError(err);
    const body = JSON.stringify({
      type: `urn:cachelab:problem:${status === 431 ? 'headers-too-large' : 'malformed-request'}`,
      title: status === 431 ? 'The request headers are too large' : 'The request could not be read',
      status,
      detail,
    });
    // Before routing, so no method or path: what was wrong, in words (the HPE_* code is node's).
    log?.(`?      ${status} -      (${summary} (${status}), answered before the app saw it)`);
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\n` +
        'Content-Type: application/problem+json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Cache-Control: no-store\r\n' +
        'Connection: close\r\n' +
        `\r\n${body}`,
      () => socket.destroy(),
    );
  });
}

/** What to say when `port` is taken (`cachelab run` says the same when it finds the port taken first). */
export function portInUse(port: number): string {
  return `Port ${port} is already in use. Pick another: --port ${port + 1} (or PORT=${port + 1}).`;
}

/**
 * Listen on 127.0.0.1:`port`; resolves to the listening server, or to the error that stopped
 * it (EADDRINUSE, EACCES). Express 5's `app.listen` calls its callback on 'error' as well as
 * on 'listening', with the error as argument: a callback that ignores its argument would
 * carry on with a server that never listened, whose `address()` is null.
 */
export function listen(app: Express, port: number): Promise<Server | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const server: Server = app.listen(port, '127.0.0.1', (err?: NodeJS.ErrnoException) => resolve(err ?? server));
  });
}

/** How long requests in flight may take to finish after Ctrl-C / SIGTERM before they are cut, ms. */
export const SHUTDOWN_GRACE_MS = 10_000;

export interface Shutdown {
  /** Requests started and not yet answered. */
  inFlight(): number;
  /**
   * The first call stops accepting connections, closes the idle ones, lets the requests in
   * flight finish (at most `graceMs`, then their connections are cut) and resolves once every
   * connection is closed. A second call (a second Ctrl-C) cuts them at once.
   */
  close(why: string): Promise<void>;
}

const requests = (n: number) => `${n.toLocaleString('en')} ${n === 1 ? 'request' : 'requests'}`;

/**
 * How `server` closes on Ctrl-C without dropping what it is answering: a client halfway
 * through a 17.8 MB download gets the rest of it, not "Empty reply from server". Counts the
 * requests in flight from now on; `log` gets one line per step (default console.log).
 *
 * A request is in flight until its response has left this process, not only until the
 * handler ended it: `res.end(body)` returns at once while most of 17.8 MB still waits in the
 * socket's buffer for a client that reads at its own pace. So connections are ended gently
 * (`socket.end()` sends what is buffered, then closes) and never destroyed before the grace
 * period is over, which is why this does not use node's `server.close()`: that destroys
 * every connection whose response is *finished*, flushed or not.
 */
export function createShutdown(
  server: Server,
  options: { graceMs?: number; log?: (line: string) => void } = {},
): Shutdown {
  const graceMs = options.graceMs ?? SHUTDOWN_GRACE_MS;
  const log = options.log ?? ((line: string) => console.log(line));
  let inFlight = 0;
  /** Open connections → how many of their requests are in flight. */
  const busy = new Map<Duplex, number>();
  let closed: Promise<void> | null = null;
  server.on('connection', (socket: Duplex) => {
    busy.set(socket, 0);
    socket.once('close', () => busy.delete(socket));
  });
  // Before the app's own listener, so that a request arriving on a kept-alive connection
  // while closing is told this connection ends with it.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    inFlight += 1;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    if (closed && !res.headersSent) res.setHeader('Connection', 'close');
    res.once('close', () => {
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        inFlight -= 1;
        const left = Math.max(0, (busy.get(socket) ?? 1) - 1);
        if (busy.has(socket)) busy.set(socket, left);
        if (closed && left === 0) socket.end();
      };
      // A write that filled the socket's buffer says so (writableNeedDrain); 'drain' is when
      // the last of it went out. Under the buffer's high-water mark it is as good as sent.
      if (!socket.destroyed && socket.writableNeedDrain) {
        socket.once('drain', settle);
        socket.once('close', settle);
      } else settle();
    });
  });
  return {
    inFlight: () => inFlight,
    close(why) {
      if (closed) {
        const cut = inFlight;
        log(`${why} again: closing now${cut > 0 ? `; ${requests(cut)} in flight cut off` : ''}.`);
        server.closeAllConnections();
        return closed;
      }
      // net.Server's close: stop accepting, and call back once every connection has closed.
      closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
      for (const [socket, n] of busy) if (n === 0) socket.end();
      if (inFlight === 0) {
        log(`${why}: closing the server and connections…`);
        return closed;
      }
      log(
        `${why}: not accepting new connections; letting ${requests(inFlight)} in flight finish (at most ${graceMs / 1000} s; Ctrl-C again to close now)…`,
      );
      const timer = setTimeout(() => {
        log(
          `⚠ ${requests(inFlight)} still running after ${graceMs / 1000} s: closing ${inFlight === 1 ? 'its connection' : 'their connections'}.`,
        );
        server.closeAllConnections();
      }, graceMs);
      return closed.then(() => clearTimeout(timer));
    },
  };
}

/**
 * What the banner says is listening: "Exercise NN — title" when `entry` (the script node
 * runs) lies in exercises/NN-slug/ or solutions/NN-slug/, NN from the folder and the title
 * from exercises/NN-slug/package.json (`cachelab.title`, else the slug); "Lesson <lesson>"
 * otherwise. The folder, not the `lesson` string a main.ts passes, so that a main.ts copied
 * from another exercise still names its own.
 */
export function bannerName(lesson: string, entry: string | undefined = process.argv[1]): string {
  const found = entry?.match(/^(.*)[\\/](?:exercises|solutions)[\\/]((\d{2})-[^\\/]+)[\\/]/);
  if (!found) return `Lesson ${lesson}`;
  const [, root = '', folder = '', number = ''] = found;
  let title = folder.slice(3);
  try {
    const pkg = JSON.parse(readFileSync(`${root}/exercises/${folder}/package.json`, 'utf8')) as {
      cachelab?: { title?: unknown };
    };
    if (typeof pkg.cachelab?.title === 'string' && pkg.cachelab.title) title = pkg.cachelab.title;
  } catch {
    // no package.json there (a copy outside the repository): the slug names it
  }
  return `Exercise ${number} — ${title}`;
}

export async function serveLesson(options: ServeOptions): Promise<Server> {
  const db = createPool();
  const problem = await probeDatabase();
  if (problem) {
    console.error(
      `✗ Can't reach PostgreSQL at ${describeDatabase()}: ${plainConnectionError(problem)}. ${POSTGRES_FIX}`,
    );
    await db.end();
    process.exit(1);
  }
  // Exactly one command fixes either: `db seed` creates the database as well as filling it.
  const missing = await seedStatus(db).then(
    (seeded) =>
      seeded.has('borrower_payments') ? null : 'The database has no data yet. Seed it with `npx cachelab db seed`',
    (err: { code?: string }) =>
      err.code === '3D000'
        ? `The database ${describeDatabase()} does not exist yet (PostgreSQL answers). Create and seed it with \`npx cachelab db seed\``
        : 'The database has no data yet. Seed it with `npx cachelab db seed`',
  );
  if (missing) {
    console.error(`✗ ${missing} (a few seconds).`);
    await db.end();
    process.exit(1);
  }
  const outage = createDatabaseOutage((line) => console.warn(line));
  // A connection that opens is PostgreSQL answering again: the end of an outage, if one was going on.
  db.on('connect', () => outage.recovered());
  const logged = (await import('express')).default();
  logged.disable('x-powered-by');
  logged.use((req, _res, next) => {
    (req as { [DATABASE_OUTAGE]?: unknown })[DATABASE_OUTAGE] = outage;
    next();
  });
  requestLog(logged);
  logged.use(await options.createApp({ db }));

  const port = options.port ?? portFromEnv();
  const listening = await listen(logged, port);
  if (listening instanceof Error) {
    console.error(
      listening.code === 'EADDRINUSE'
        ? `✗ ${portInUse(port)}`
        : `✗ Could not listen on port ${port}: ${listening.message}`,
    );
    await options.close?.();
    await db.end();
    process.exit(1);
  }
  const server = listening;
  answerClientErrors(server, (line) => console.log(line));
  const closing = createShutdown(
    server,
    options.shutdownGraceMs === undefined ? {} : { graceMs: options.shutdownGraceMs },
  );
  let closed = false;
  const shutdown = async (why: string) => {
    const first = !closed;
    closed = true;
    const done = closing.close(why);
    if (!first) return; // a second Ctrl-C: cut the requests in flight; the first call finishes
    await done;
    await options.close?.();
    await db.end();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // `cachelab run 01 | head -3`: once the reader has gone, each log line fails with EPIPE,
  // an 'error' event that would end the server with a stack trace. Close as on Ctrl-C.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      if (!closed) void shutdown('Output closed');
    });
  }

  const { port: actual } = server.address() as AddressInfo;
  const name = bannerName(options.lesson);
  console.log(
    `${name}${name.startsWith('Exercise') ? ',' : ''} listening on http://127.0.0.1:${actual}  (Ctrl-C to stop)`,
  );
  console.log(
    `Try: curl -si 'http://127.0.0.1:${actual}${options.example ?? '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000'}' | grep -iE '^(${['HTTP', ...(options.headers ?? ['server-timing', 'x-cache'])].join('|')})'`,
  );
  return server;
}
