import { createSingleFlight } from './single-flight.ts';

/**
 * A cache in front of a slow, rate-limited upstream HTTP API (step 3). The upstream says how
 * long its answers stay fresh; we listen, and we protect it from ourselves:
 *
 *   get(path):
 *     1. fresh entry (age < the upstream's max-age)             → HIT, no request
 *     2. else one request per path at a time (single-flight): concurrent misses share it
 *        - the upstream asked us to wait (Retry-After) and that time has not passed
 *                                                               → no request at all: step 3
 *        - 200 → store it for its s-maxage / max-age (less its Age), unless no-store,
 *          no-cache or private says not to                      → MISS
 *        - 429, 5xx, timeout, connection refused                → step 3
 *        (and for errorBackoffMs after such a failure, a path with a stale copy serves it
 *        without asking: a failing upstream gets one request per path per second, not a flood)
 *     3. an entry at most `stale-if-error` past its freshness   → STALE (RFC 5861), else
 *        an error: 503 (the upstream limits us), 502 (it failed), 504 (it timed out).
 *        **A 429 or a 5xx is never stored as the answer**: the next request tries again
 *        (after any Retry-After), and a stale entry stays as it was.
 *
 * The bound on stale answers is the upstream's `stale-if-error=N` when it sends one, else
 * `staleIfErrorMs`; `must-revalidate` (or `proxy-revalidate`) forbids stale answers altogether.
 *
 * Limits we accept: one process's memory (lesson 04 shows how to share it), a cache key that
 * is the path alone (the upstream sends no Vary), no conditional revalidation (If-None-Match:
 * lesson 07 shows the server side of it).
 */
export interface UpstreamCacheOptions {
  /** Where the upstream API lives: `http://127.0.0.1:4000`. Paths are appended to it. */
  baseUrl: string;
  /** How long one upstream request may take, in ms, before it counts as a failure (504). Default 2000. */
  timeoutMs?: number;
  /**
   * How long past its freshness an entry may still answer when the upstream fails, in ms,
   * when the upstream's Cache-Control has no `stale-if-error`. Default 60,000. 0: never stale.
   */
  staleIfErrorMs?: number;
  /**
   * After the upstream failed for a path (5xx, timeout, refused), how long its stale copy is
   * served without asking again, in ms. Default 1,000. Only with a copy to serve: without
   * one, every request tries the upstream (an error is never kept as the answer).
   */
  errorBackoffMs?: number;
  /** Entries kept at most (the least recently used goes first). Default 1,000. */
  maxEntries?: number;
  /** Clock, in ms (tests inject one). Default Date.now. */
  now?: () => number;
  /** Default global fetch; tests and the measure script may count or slow it. */
  fetch?: typeof fetch;
}

export interface UpstreamAnswer {
  status: 'HIT' | 'MISS' | 'STALE';
  body: Buffer;
  contentType: string;
  /** Seconds since the upstream produced it (its Age when we got it, plus our time holding it). */
  ageSeconds: number;
  /** Seconds of freshness left (0 when STALE). */
  freshForSeconds: number;
}

/** Why no answer could be given: what our API answers (problem+json), and for how long to wait. */
export class UpstreamError extends Error {
  constructor(
    readonly status: 502 | 503 | 504,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

interface Entry {
  body: Buffer;
  contentType: string;
  /** Our clock's time at which the upstream produced it (now − its Age when we got it). */
  bornAtMs: number;
  freshMs: number;
  staleIfErrorMs: number;
  /** Our clock's time of the last failed request for it, if any since it was stored. */
  failedAtMs?: number;
}

export interface UpstreamCacheStats {
  /** Requests sent to the upstream. */
  requests: number;
  /** Answers by kind, and errors given. */
  hits: number;
  misses: number;
  stale: number;
  errors: number;
  /** Requests not sent: the upstream's Retry-After had not passed, or it failed under errorBackoffMs ago. */
  heldBack: number;
}

export interface UpstreamCache {
  get(path: string): Promise<UpstreamAnswer>;
  readonly stats: Readonly<UpstreamCacheStats>;
}

/** The Cache-Control directives we act on, lower-cased; a directive without a value maps to ''. */
export function parseCacheControl(header: string | null): Map<string, string> {
  const directives = new Map<string, string>();
  for (const part of (header ?? '').split(',')) {
    const [name, value = ''] = part.trim().split('=', 2) as [string, string?];
    if (name) directives.set(name.toLowerCase(), value.replace(/^"|"$/g, ''));
  }
  return directives;
}

const seconds = (value: string | undefined): number | undefined => {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
};

export function createUpstreamCache(options: UpstreamCacheOptions): UpstreamCache {
  const timeoutMs = options.timeoutMs ?? 2000;
  const defaultStaleIfErrorMs = options.staleIfErrorMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 1000;
  const errorBackoffMs = options.errorBackoffMs ?? 1000;
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? fetch;
  if (!/^https?:\/\//.test(options.baseUrl))
    throw new TypeError('createUpstreamCache: `baseUrl` must be an http(s) URL, e.g. "http://127.0.0.1:4000".');
  const entries = new Map<string, Entry>();
  const flights = createSingleFlight();
  const stats: UpstreamCacheStats = { requests: 0, hits: 0, misses: 0, stale: 0, errors: 0, heldBack: 0 };
  /** Our clock's time before which the upstream asked us not to call (its Retry-After). */
  let retryAtMs = 0;

  const answer = (status: UpstreamAnswer['status'], e: Entry): UpstreamAnswer => {
    const age = now() - e.bornAtMs;
    return {
      status,
      body: e.body,
      contentType: e.contentType,
      ageSeconds: Math.max(0, Math.floor(age / 1000)),
      freshForSeconds: Math.max(0, Math.floor((e.freshMs - age) / 1000)),
    };
  };

  const servableStale = (e: Entry | undefined): e is Entry =>
    e !== undefined && now() - e.bornAtMs < e.freshMs + e.staleIfErrorMs;
  /** Step 3: the stale entry if it is still within its stale-if-error bound, else the error. */
  const staleOr = (path: string, error: UpstreamError): UpstreamAnswer => {
    const e = entries.get(path);
    if (e) e.failedAtMs = now();
    if (servableStale(e)) {
      stats.stale++;
      return answer('STALE', e);
    }
    if (e) entries.delete(path); // too old to serve even in an outage
    stats.errors++;
    throw error;
  };

  /** One request to the upstream, and what its answer means for the cache. */
  const load = async (path: string): Promise<UpstreamAnswer> => {
    const waitMs = retryAtMs - now();
    if (waitMs > 0) {
      stats.heldBack++;
      return staleOr(
        path,
        new UpstreamError(503, 'The upstream API asked us to slow down; try again later.', Math.ceil(waitMs / 1000)),
      );
    }
    stats.requests++;
    let res: Response;
    let body: Buffer;
    try {
      res = await doFetch(options.baseUrl + path, { signal: AbortSignal.timeout(timeoutMs) });
      body = Buffer.from(await res.arrayBuffer());
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      return staleOr(
        path,
        timedOut
          ? new UpstreamError(504, `The upstream API did not answer within ${timeoutMs} ms.`)
          : new UpstreamError(502, `The upstream API could not be reached: ${(error as Error).message}`),
      );
    }
    const header = res.headers.get('retry-after');
    if (res.status === 429 || (res.status === 503 && header)) {
      // Retry-After in seconds (an HTTP date is also allowed: honour it too); a 429 without
      // one still means "not now": wait a second.
      const s = seconds(header ?? undefined);
      const date = s === undefined && header ? Date.parse(header) - Date.now() : Number.NaN;
      const wait = s !== undefined ? s * 1000 : Number.isFinite(date) ? Math.max(0, date) : 1000;
      retryAtMs = Math.max(retryAtMs, now() + wait);
    }
    if (res.status === 429)
      return staleOr(
        path,
        new UpstreamError(
          503,
          'The upstream API is rate-limiting us; try again later.',
          Math.ceil((retryAtMs - now()) / 1000),
        ),
      );
    if (res.status >= 500) return staleOr(path, new UpstreamError(502, `The upstream API failed (${res.status}).`));
    if (res.status !== 200) {
      // A 404 for an unknown currency, say: the upstream's answer, passed on, not stored.
      stats.errors++;
      throw new UpstreamError(502, `The upstream API answered ${res.status} for ${path}.`);
    }
    const cc = parseCacheControl(res.headers.get('cache-control'));
    const fresh = seconds(cc.get('s-maxage')) ?? seconds(cc.get('max-age')) ?? 0;
    const storable = !cc.has('no-store') && !cc.has('no-cache') && !cc.has('private') && fresh > 0;
    const entry: Entry = {
      body,
      contentType: res.headers.get('content-type') ?? 'application/octet-stream',
      bornAtMs: now() - (seconds(res.headers.get('age') ?? undefined) ?? 0) * 1000,
      freshMs: fresh * 1000,
      staleIfErrorMs:
        cc.has('must-revalidate') || cc.has('proxy-revalidate')
          ? 0
          : (seconds(cc.get('stale-if-error')) ?? defaultStaleIfErrorMs / 1000) * 1000,
    };
    stats.misses++;
    if (storable) {
      entries.delete(path);
      entries.set(path, entry);
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    } else {
      entries.delete(path);
    }
    return answer('MISS', entry);
  };

  return {
    stats,
    async get(path) {
      const e = entries.get(path);
      if (e && now() - e.bornAtMs < e.freshMs) {
        entries.delete(path); // most recently used goes last
        entries.set(path, e);
        stats.hits++;
        return answer('HIT', e);
      }
      if (servableStale(e) && e.failedAtMs !== undefined && now() - e.failedAtMs < errorBackoffMs) {
        // The upstream just failed for this path: give it a moment, answer with the copy.
        stats.heldBack++;
        stats.stale++;
        return answer('STALE', e);
      }
      return flights.run(path, () => load(path));
    },
  };
}
