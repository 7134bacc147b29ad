import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { parseServerTiming } from '@cachelab/testkit';
import { UserError } from '../output.ts';

/**
 * What every part of `cachelab demo` uses: one request, measured (demo.ts for lessons
 * 01–08 and 10, demo-strategies.ts for lesson 09), and the way its figures are written.
 */

export const REQUEST_TIMEOUT_MS = 60_000;
/** The employee every demo asks for, again and again (lesson 09: under each strategy). */
export const EMPLOYEE = '/employees/42';

export interface Measurement {
  /** What the request is, for people: `GET /payments (classic)`. */
  label: string;
  method: string;
  path: string;
  status: number;
  /** `X-Cache` (HIT, MISS, STALE, BYPASS), undefined when the lesson has no cache. */
  cache: string | undefined;
  /** `X-Cache-Level` (L1, L2) on a hit, when the lesson says. */
  level: string | undefined;
  /** Server-Timing metrics in ms: db, l1, l2, json, total, … */
  timing: Record<string, number>;
  /**
   * What the client waited, ms: from opening the connection to the last byte received, the
   * body counted as it arrives and not kept (CLIENT_MS_MEANS), as curl's time_total measures.
   */
  wallMs: number;
  bytes: number;
  /** The response's `ETag`, when it has one. */
  etag?: string;
  /** The response's `Cache-Control`, when it has one. */
  cacheControl?: string;
  /** The `If-None-Match` this request sent, when it was conditional. */
  ifNoneMatch?: string;
}

/**
 * A request the lesson's server has no route for (404). demo.ts turns it into one line
 * that names the lesson and what its `GET /` lists: the demo does not know this lesson's
 * routes, which is not the learner's database's fault.
 */
export class RouteNotFound extends UserError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${method} ${path} answered 404 Not Found${detail ? ` (${detail})` : ''}.`);
    this.name = 'RouteNotFound';
  }
}

/** The `detail` of a problem+json body, else the start of the body. */
function problemDetail(body: string): string {
  try {
    const detail = (JSON.parse(body) as { detail?: unknown }).detail;
    if (typeof detail === 'string') return detail;
  } catch {
    // not JSON
  }
  return body.slice(0, 200);
}

/** How "client ms" is measured, for the demo's legend. */
export const CLIENT_MS_MEANS =
  'measured by this demo as curl does: a new connection, request sent, last byte received; the body is counted as it arrives, not kept';

/** Bodies up to this size are kept (to read the employee's status, a problem's detail); larger ones only counted. */
const KEPT_BYTES = 100_000;

interface Received {
  status: number;
  headers: IncomingHttpHeaders;
  bytes: number;
  /** The body when it is at most KEPT_BYTES, else ''. */
  text: string;
  wallMs: number;
}

/**
 * One HTTP request over node:http, timed like curl: a connection of its own (no pool to
 * warm), and the body counted chunk by chunk, never collected. `fetch` + `arrayBuffer()`
 * would time the demo's own copying too: 320–450 ms for a 17.8 MB HIT that curl receives in
 * 16–33 ms.
 */
function send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Received> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = httpRequest(url, { method, headers, agent: false, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      let bytes = 0;
      const kept: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes <= KEPT_BYTES) kept.push(chunk);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          bytes,
          text: bytes <= KEPT_BYTES ? Buffer.concat(kept).toString('utf8') : '',
          wallMs: performance.now() - started,
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One request, timed from opening the connection to the last byte received, with what its
 * headers say. A 404 throws RouteNotFound; any other status ≥ 400 a UserError with the body's start.
 */
export async function request(
  base: string,
  label: string,
  method: string,
  path: string,
  options: { body?: unknown; ifNoneMatch?: string } = {},
): Promise<Measurement & { text: string }> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.ifNoneMatch !== undefined) headers['if-none-match'] = options.ifNoneMatch;
  const res = await send(
    `${base}${path}`,
    method,
    headers,
    options.body === undefined ? undefined : JSON.stringify(options.body),
  );
  const header = (name: string) => {
    const value = res.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const etag = header('etag');
  const cacheControl = header('cache-control');
  const measurement: Measurement = {
    label,
    method,
    path,
    status: res.status,
    cache: header('x-cache')?.toUpperCase(),
    level: header('x-cache-level')?.toUpperCase(),
    timing: parseServerTiming(header('server-timing') ?? null),
    wallMs: Math.round(res.wallMs * 10) / 10,
    bytes: res.bytes,
    ...(etag ? { etag } : {}),
    ...(cacheControl ? { cacheControl } : {}),
    ...(options.ifNoneMatch !== undefined ? { ifNoneMatch: options.ifNoneMatch } : {}),
  };
  if (res.status === 404) throw new RouteNotFound(method, path, problemDetail(res.text));
  if (res.status >= 400) {
    throw new UserError(
      `${method} ${path} answered ${res.status}: ${res.text.slice(0, 300)}. Is the database seeded? \`npx cachelab doctor\``,
    );
  }
  // Only the small bodies are read back (the employee's status); 17.8 MB of payments are not.
  return { ...measurement, text: res.text };
}

export function strip({ text: _text, ...m }: Measurement & { text: string }): Measurement {
  return m;
}

// Server-Timing durations carry one decimal: showing more would be precision we do not have.
export const ms = (n: number | undefined) => (n === undefined ? '—' : n.toFixed(1));

/** A bar of `value` on a scale where `max` is `width` cells, with eighth-cell precision. */
export function bar(value: number, max: number, width = 40): string {
  if (max <= 0 || value <= 0) return '';
  const eighths = Math.max(1, Math.round((value / max) * width * 8));
  const partial = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8] ?? '';
  return '█'.repeat(Math.floor(eighths / 8)) + partial;
}
