import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A slow, rate-limited upstream HTTP API, in-process, for step 3 (its tests and its measure
 * script): `GET /rates/:currency` answers `{"currency":"EUR","rate":…,"version":N}` after
 * `latencyMs`, with `Cache-Control: max-age=<maxAgeSeconds>`, like a third-party exchange-rate
 * API. Nothing is mocked on our side: the cache in front of it talks real HTTP to it.
 *
 * - **Rate limit**: at most `limit` requests per `windowMs` (a fixed window); past it, `429 Too
 *   Many Requests` with `Retry-After: <seconds until the window ends>`, at once (no latency).
 * - **Outages on cue**: `fail(503)` makes every request answer that status (after the latency)
 *   until `restore()`; `fail(429, 30)` a 429 with `Retry-After: 30`.
 * - `version` grows by one on each `bump()`: what a test looks for to tell a fresh answer from
 *   an old one. `stats` counts what reached the server.
 */
export interface UpstreamStubOptions {
  /** Delay before each answer but a 429, in ms. Default 100. */
  latencyMs?: number;
  /** Requests allowed per window. Default 10. */
  limit?: number;
  /** The rate limit's window, in ms. Default 1000. */
  windowMs?: number;
  /** The `max-age` every 200 carries, in seconds. Default 2. */
  maxAgeSeconds?: number;
  /** Extra Cache-Control directives on a 200 (e.g. `stale-if-error=60`, or `no-store` alone). */
  cacheControl?: string;
}

export interface UpstreamStubStats {
  /** Requests that reached the server (limited ones included). */
  requests: number;
  /** Of those, answered 429 by the rate limit or by fail(429). */
  limited: number;
  /** Of those, answered 5xx by fail(). */
  failed: number;
}

export interface UpstreamStub {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly stats: Readonly<UpstreamStubStats>;
  /** Answer `status` to every request from now on (a 429 with `Retry-After: retryAfterSeconds`). */
  fail(status: number, retryAfterSeconds?: number): void;
  /** Answer normally again. */
  restore(): void;
  /** Change the data: the next 200s carry version + 1. */
  bump(): void;
  /** Change what the next 200s carry in Cache-Control. */
  setCacheControl(value: string): void;
  close(): Promise<void>;
}

export async function startUpstreamStub(options: UpstreamStubOptions = {}): Promise<UpstreamStub> {
  const latencyMs = options.latencyMs ?? 100;
  const limit = options.limit ?? 10;
  const windowMs = options.windowMs ?? 1000;
  let cacheControl = [`max-age=${options.maxAgeSeconds ?? 2}`, options.cacheControl].filter(Boolean).join(', ');
  const stats: UpstreamStubStats = { requests: 0, limited: 0, failed: 0 };
  let failing: { status: number; retryAfterSeconds?: number | undefined } | undefined;
  let version = 1;
  let windowStart = Date.now();
  let inWindow = 0;

  const server: Server = createServer((req, res) => {
    stats.requests++;
    const now = Date.now();
    if (now - windowStart >= windowMs) {
      windowStart = now;
      inWindow = 0;
    }
    inWindow++;
    const tooMany = (retryAfterSeconds: number) => {
      stats.limited++;
      res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': String(retryAfterSeconds) });
      res.end('Too Many Requests\n');
    };
    if (failing?.status === 429) return tooMany(failing.retryAfterSeconds ?? 1);
    if (inWindow > limit) return tooMany(Math.max(1, Math.ceil((windowStart + windowMs - now) / 1000)));
    const m = /^\/rates\/([A-Z]{3})$/.exec(req.url ?? '');
    setTimeout(() => {
      if (failing) {
        stats.failed++;
        res.writeHead(failing.status, { 'content-type': 'text/plain' });
        res.end('Upstream failure\n');
        return;
      }
      if (!m) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('Not Found\n');
        return;
      }
      const currency = m[1] as string;
      const rate = Number((1 + (currency.charCodeAt(0) % 7) / 10 + version / 1000).toFixed(4));
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': cacheControl });
      res.end(JSON.stringify({ currency, rate, version }));
    }, latencyMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    fail(status, retryAfterSeconds) {
      failing = { status, retryAfterSeconds };
    },
    restore() {
      failing = undefined;
    },
    bump() {
      version++;
    },
    setCacheControl(value) {
      cacheControl = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
