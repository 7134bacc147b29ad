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
  /** What the client waited, request sent to last byte read, ms. */
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

/**
 * One request, timed from sending to the last byte read, with what its headers say.
 * A 404 throws RouteNotFound; any other status ≥ 400 a UserError with the body's start.
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
  const started = performance.now();
  const res = await fetch(`${base}${path}`, {
    method,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const buffer = Buffer.from(await res.arrayBuffer());
  const wallMs = performance.now() - started;
  const etag = res.headers.get('etag') ?? undefined;
  const cacheControl = res.headers.get('cache-control') ?? undefined;
  const measurement: Measurement = {
    label,
    method,
    path,
    status: res.status,
    cache: res.headers.get('x-cache')?.toUpperCase() ?? undefined,
    level: res.headers.get('x-cache-level')?.toUpperCase() ?? undefined,
    timing: parseServerTiming(res.headers.get('server-timing')),
    wallMs: Math.round(wallMs * 10) / 10,
    bytes: buffer.length,
    ...(etag ? { etag } : {}),
    ...(cacheControl ? { cacheControl } : {}),
    ...(options.ifNoneMatch !== undefined ? { ifNoneMatch: options.ifNoneMatch } : {}),
  };
  if (res.status === 404) throw new RouteNotFound(method, path, problemDetail(buffer.toString('utf8')));
  if (res.status >= 400) {
    throw new UserError(
      `${method} ${path} answered ${res.status}: ${buffer.toString('utf8').slice(0, 300)}. Is the database seeded? \`npx cachelab doctor\``,
    );
  }
  // Only the small bodies are read back (the employee's status); 17.8 MB of payments are not.
  return { ...measurement, text: buffer.length < 100_000 ? buffer.toString('utf8') : '' };
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
