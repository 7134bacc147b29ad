import { maxHeaderSize, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createPool, describeDatabase, POSTGRES_FIX, type Pool, probeDatabase, seedStatus } from '@cachelab/db';
import type { Express } from 'express';

/**
 * How every lesson's `main.ts` runs its app: connect before listening (a missing service
 * is one clear line and exit code 1, not a stack trace on the first request; so is a port
 * that is already taken, which names the next one to try), log each
 * request on one line, answer what node's HTTP parser refuses with problem+json too
 * (`answerClientErrors`), and close the server and the clients on Ctrl-C / SIGTERM.
 */
export interface ServeOptions {
  /** Lesson id for the banner, e.g. '01-uncached'. */
  lesson: string;
  /** Build the app once the services are connected. */
  createApp(services: { db: Pool }): Express | Promise<Express>;
  /** Extra clean-up on shutdown (close Redis, …). */
  close?(): Promise<void> | void;
  /** Port: `--port`, else `PORT`, else 3000. 0 picks a free one. */
  port?: number;
  /** The request the banner suggests trying. Default: the classic payments query. */
  example?: string;
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

/** The status, reason phrase and detail for a request node's HTTP parser refused. Node's own choice of status, with words. */
function describeClientError(err: ClientError): { status: number; reason: string; detail: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        reason: 'Request Header Fields Too Large',
        detail: `The request's headers are larger than this server accepts (${Math.round(maxHeaderSize / 1024)} KiB for the request line and all headers together). Send fewer or shorter headers (a large cookie is the usual suspect).`,
      };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, reason: 'Content Too Large', detail: 'The chunk extensions of the body are too large.' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        reason: 'Request Timeout',
        detail: 'The request did not arrive completely in time.',
      };
    case 'HPE_INVALID_URL':
      return {
        status: 400,
        reason: 'Bad Request',
        detail:
          'The URL is malformed: a URL is ASCII, so any other byte (a space, an é) must be percent-encoded as UTF-8 (é is %C3%A9, a space %20).',
      };
    default:
      return {
        status: 400,
        reason: 'Bad Request',
        detail: `The request is not valid HTTP/1.1 (${err.message.replace(/^Parse Error: /, '')}).`,
      };
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
    const { status, reason, detail } = describeClientError(err);
    const body = JSON.stringify({
      type: `urn:cachelab:problem:${status === 431 ? 'headers-too-large' : 'malformed-request'}`,
      title: status === 431 ? 'The request headers are too large' : 'The request could not be read',
      status,
      detail,
    });
    log?.(`?      ${status} -      (refused by the HTTP parser: ${err.code ?? err.message})`);
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

export async function serveLesson(options: ServeOptions): Promise<Server> {
  const db = createPool();
  const problem = await probeDatabase();
  if (problem) {
    console.error(`✗ Can't reach PostgreSQL at ${describeDatabase()} (${problem}). ${POSTGRES_FIX}`);
    await db.end();
    process.exit(1);
  }
  const seeded = await seedStatus(db).catch(() => new Map<string, number>());
  if (!seeded.has('borrower_payments')) {
    console.error('✗ The database has no data yet. Seed it with `npx cachelab db seed` (a few seconds).');
    await db.end();
    process.exit(1);
  }
  const logged = (await import('express')).default();
  logged.disable('x-powered-by');
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
  let closing = false;
  const shutdown = async (why: string) => {
    if (closing) return;
    closing = true;
    console.log(`\n${why}: closing the server and connections…`);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await options.close?.();
    await db.end();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  // `cachelab run 01 | head -3`: once the reader has gone, each log line fails with EPIPE,
  // an 'error' event that would end the server with a stack trace. Close as on Ctrl-C.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      void shutdown('Output closed');
    });
  }

  const { port: actual } = server.address() as AddressInfo;
  console.log(`Lesson ${options.lesson} listening on http://127.0.0.1:${actual}  (Ctrl-C to stop)`);
  console.log(
    `Try: curl -si 'http://127.0.0.1:${actual}${options.example ?? '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000'}' | grep -iE '^(HTTP|server-timing|x-cache)'`,
  );
  return server;
}
