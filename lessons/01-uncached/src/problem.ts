import { isConnectionError, isQueryTimeout, POSTGRES_FIX, plainConnectionError } from '@cachelab/db';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';

/**
 * RFC 9457 problem details: every error this API returns has this shape and the media
 * type `application/problem+json`, so a client can tell a 400 from a 503 without parsing
 * prose. `type` is a URN (no web page pretends to document it); `detail` is for people.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  /** For 400s: one entry per bad parameter. */
  errors?: { parameter: string; message: string }[];
}

/** Throw one of these from a handler; the error handler writes it as problem+json. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    detail: string,
    readonly errors?: Problem['errors'],
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }
}

export const badRequest = (detail: string, errors?: Problem['errors']) =>
  new HttpProblem(400, 'invalid-parameters', 'Your request parameters are not valid', detail, errors);

export const notFound = (detail: string) => new HttpProblem(404, 'not-found', 'Not found', detail);

/** Write a problem. Problems are never cacheable: `Cache-Control: no-store`. */
export function sendProblem(res: Response, problem: Problem): void {
  res
    .status(problem.status)
    .set('Cache-Control', 'no-store')
    .type('application/problem+json')
    .send(JSON.stringify(problem));
}

/**
 * Set on a route's body parser (lesson 01's `jsonBody()`): the media type it accepts, so that
 * an OPTIONS answer can say it (`Accept-Patch`, `Accept-Post`) without each route repeating it.
 */
export const ACCEPTED_MEDIA_TYPE = Symbol.for('cachelab.acceptedMediaType');

/** The order the methods are listed in `Allow`: reads first, then writes, then OPTIONS. */
const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** What the 404 handler reads of Express 5's router (the `router` package): routes, their methods, their middleware. */
interface RouterLayer {
  match(path: string): unknown;
  route?: { methods: Record<string, boolean>; stack: { method?: string; handle: unknown }[] };
}

/**
 * The routes of `req.app` whose path matches this request's path, whatever their method:
 * the methods they answer (GET brings HEAD, Express answers HEAD with the GET route) and,
 * per method, the body media type its parser accepts. Empty when no route has this path.
 *
 * Read from the app's own router, so that every app gets the right `Allow` without listing
 * its routes twice. (Middleware mounted with `app.use` is not a route and is not counted;
 * a mounted app answers its own paths with its own 404 handler.)
 */
export function routesFor(req: Request): { methods: string[]; accepts: Map<string, string> } {
  const stack = (req.app as unknown as { router?: { stack?: RouterLayer[] } }).router?.stack ?? [];
  const methods = new Set<string>();
  const accepts = new Map<string, string>();
  for (const layer of stack) {
    if (!layer.route) continue;
    let matches: unknown;
    try {
      matches = layer.match(req.path);
    } catch {
      matches = false; // a malformed escape never gets here (the router reports it first)
    }
    if (!matches) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) {
      if (!on) continue;
      if (method === '_all') return { methods: [], accepts }; // `app.all`: every method is routed
      methods.add(method.toUpperCase());
      if (method === 'get') methods.add('HEAD');
    }
    for (const handler of layer.route.stack) {
      const type = (handler.handle as { [ACCEPTED_MEDIA_TYPE]?: string })[ACCEPTED_MEDIA_TYPE];
      if (type && handler.method) accepts.set(handler.method.toUpperCase(), type);
    }
  }
  if (methods.size > 0) methods.add('OPTIONS');
  const order = (m: string) => (METHOD_ORDER.includes(m) ? METHOD_ORDER.indexOf(m) : METHOD_ORDER.length);
  return { methods: [...methods].sort((a, b) => order(a) - order(b) || a.localeCompare(b)), accepts };
}

/**
 * The one handler after every route, for a request no route answered:
 *
 * - a path some route has, asked with `OPTIONS` → `204 No Content` with `Allow` (and, when a
 *   route takes a body, `Accept-Patch` / `Accept-Post` naming its media type, RFC 5789 §3.1);
 * - a path some route has, with a method none of them answers → `405 Method Not Allowed`
 *   problem+json with `Allow` (RFC 9110 §15.5.6: a 405 MUST list the methods that work);
 * - anything else → `404 Not Found` problem+json.
 */
export const notFoundHandler: RequestHandler = (req, res) => {
  const { methods, accepts } = routesFor(req);
  if (methods.length > 0 && (req.method === 'OPTIONS' || !methods.includes(req.method))) {
    res.set('Allow', methods.join(', '));
    if (req.method === 'OPTIONS') {
      const patch = accepts.get('PATCH');
      const post = accepts.get('POST');
      if (patch) res.set('Accept-Patch', patch);
      if (post) res.set('Accept-Post', post);
      res.status(204).end();
      return;
    }
    return sendProblem(res, {
      type: 'urn:cachelab:problem:method-not-allowed',
      title: 'Method not allowed',
      status: 405,
      detail: `${req.baseUrl}${req.path} answers ${methods.join(', ')}, not ${req.method}.`,
      instance: req.originalUrl,
    });
  }
  sendProblem(res, {
    type: 'urn:cachelab:problem:not-found',
    title: 'Not found',
    status: 404,
    detail: `There is no route ${req.method} ${req.path}.`,
    instance: req.originalUrl,
  });
};

/**
 * 415 for a write whose body is not in the one media type the route reads, with the header
 * that names the accepted type: `Accept-Patch` for PATCH (RFC 5789 §2.2), `Accept-Post` for
 * POST (W3C LDP); the detail says it for every method (PUT has no such header).
 */
export function unsupportedMediaType(req: Request, res: Response, accepted: string): HttpProblem {
  if (req.method === 'PATCH') res.set('Accept-Patch', accepted);
  if (req.method === 'POST') res.set('Accept-Post', accepted);
  const given = req.get('content-type');
  const said = given ? `it was sent as \`${given.slice(0, 100)}\`` : 'it was sent without a Content-Type';
  return new HttpProblem(
    415,
    'unsupported-media-type',
    'Unsupported Media Type',
    `The body of ${req.method} ${req.baseUrl}${req.path} must be JSON, sent with \`Content-Type: ${accepted}\`; ${said}.`,
  );
}

/**
 * pg-pool's "timeout exceeded when trying to connect" comes from a request that waited in
 * the pool's queue for a free connection (every one checked out) longer than the connection
 * timeout: the pool is exhausted, PostgreSQL itself answered the others. A connection that
 * could not be opened says "Connection terminated due to connection timeout" or ECONNREFUSED.
 */
export function isPoolExhausted(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth += 1) {
    if (/timeout exceeded when trying to connect/i.test(e.message)) return true;
  }
  return false;
}

/**
 * Where a server reports that PostgreSQL cannot be reached, so that an outage is two lines
 * in its log (one when it starts, one when it ends), not a stack trace per request: every
 * request of an outage fails the same way, and the 503 already tells each client.
 */
export interface DatabaseOutage {
  /** A request could not reach PostgreSQL: the first of an outage is logged, the others counted. */
  failed(err: unknown): void;
  /** PostgreSQL answered again (a connection opened): logs the end of the outage, if one was going on. */
  recovered(): void;
}

/**
 * Put on each request (`req[DATABASE_OUTAGE] = outage`) by whoever runs the app and knows
 * when PostgreSQL is back: serveLesson, which watches its pool open connections. The error
 * handler then reports there, once for the whole server, however many apps it mounts.
 */
export const DATABASE_OUTAGE = Symbol.for('cachelab.databaseOutage');

/** What a connection error says, in words, with the address it tried: `nothing listens on 127.0.0.1:5432`. */
function connectionProblem(err: unknown): string {
  const messages: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth += 1) {
    // Node's "connect" to `localhost` tries ::1 and 127.0.0.1 and throws an AggregateError with no message.
    const parts = e instanceof AggregateError ? e.errors : [e];
    for (const part of parts) {
      const text = part instanceof Error ? part.message || String((part as { code?: unknown }).code ?? '') : '';
      if (text && !messages.includes(text)) messages.push(text);
    }
    if (messages.length > 0) break;
  }
  return messages.map(plainConnectionError).join('; ') || 'no reason given';
}

/**
 * A DatabaseOutage that writes one line to `log` when an outage starts (why, and the fix)
 * and one when `recovered()` ends it (how long, how many requests were answered 503).
 *
 * Without anyone calling `recovered()` (an app used without serveLesson: tests, a script),
 * an outage is taken to be over once no request has failed for `quietMs` (default 30000 ms),
 * so that the next failure is logged again rather than never.
 */
export function createDatabaseOutage(
  log: (line: string) => void,
  options: { now?: () => number; quietMs?: number } = {},
): DatabaseOutage {
  const now = options.now ?? Date.now;
  const quietMs = options.quietMs ?? 30_000;
  let since: number | null = null;
  let lastFailure = 0;
  let failures = 0;
  return {
    failed(err) {
      const at = now();
      if (since !== null && at - lastFailure > quietMs) since = null;
      lastFailure = at;
      if (since !== null) {
        failures += 1;
        return;
      }
      since = at;
      failures = 1;
      let database = false; // 3D000: the server answers, the database DATABASE_URL names does not exist
      for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth += 1)
        database ||= (e as { code?: unknown }).code === '3D000';
      log(
        `⚠ Can't reach PostgreSQL: ${connectionProblem(err)}. Answering 503 until it is back (logged once, not per request). ${
          database ? 'Create and seed the database with `npx cachelab db seed`.' : POSTGRES_FIX
        }`,
      );
    },
    recovered() {
      if (since === null) return;
      const seconds = Math.max(0, Math.round((now() - since) / 1000));
      log(
        `✓ PostgreSQL is back after ${seconds.toLocaleString('en')} s; ${failures.toLocaleString('en')} ${failures === 1 ? 'request was' : 'requests were'} answered 503 meanwhile.`,
      );
      since = null;
      failures = 0;
    },
  };
}

/**
 * The one error handler, last. Maps what handlers throw to problem+json:
 * HttpProblem → its status; a path with a malformed %-escape → 400 saying the URL is
 * malformed; a body that is not JSON → 400; the pool exhausted → 503 saying
 * the database is overloaded; a query PostgreSQL did not answer in time → 503; PostgreSQL
 * unreachable → 503 naming the fix (its address only in the log, one line per outage: see
 * DatabaseOutage); anything else → 500 without leaking internals (the error and its stack
 * are logged: that one is a bug to look at).
 */
export function errorHandler(options: { log?: (err: unknown) => void } = {}): ErrorRequestHandler {
  const log = options.log ?? ((err: unknown) => console.error(err));
  // Used when the request carries no DATABASE_OUTAGE of its server's (tests, scripts).
  const ownOutage = createDatabaseOutage((line) => log(line));
  return (err, req, res, _next) => {
    const instance = req.originalUrl;
    if (err instanceof HttpProblem) {
      return sendProblem(res, {
        type: `urn:cachelab:problem:${err.slug}`,
        title: err.title,
        status: err.status,
        detail: err.message,
        instance,
        ...(err.errors ? { errors: err.errors } : {}),
      });
    }
    const status = (err as { status?: number; type?: string }).status;
    if (err instanceof URIError && status === 400) {
      // The router could not decode a path parameter: a `%` not followed by two hex digits
      // (`/employees/%zz`), or escapes that are not UTF-8 (`%ff`). The URL is wrong, not a body.
      const escaped = /'(.*)'$/.exec(err.message)?.[1];
      return sendProblem(res, {
        type: 'urn:cachelab:problem:malformed-url',
        title: 'The URL is malformed',
        status: 400,
        detail: `The path of the URL is malformed: ${escaped ? `\`${escaped.slice(0, 100)}\`` : 'it'} is not a valid percent-encoding (each % must be followed by two hexadecimal digits, and the bytes must be UTF-8, e.g. %C3%A9 for é).`,
        instance,
      });
    }
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // body-parser's errors: malformed JSON, too large, wrong charset.
      return sendProblem(res, {
        type: 'urn:cachelab:problem:bad-body',
        title: 'The request body could not be read',
        status,
        detail: err instanceof Error ? err.message : 'Malformed request body.',
        instance,
      });
    }
    const sqlState = (err as { code?: unknown }).code;
    if (typeof sqlState === 'string' && /^22[0-9A-Z]{3}$/.test(sqlState)) {
      // PostgreSQL's class 22, "data exception": a value it cannot store or compare (a NUL
      // byte in text, a number out of range). Validation should have caught it; when it did
      // not, it is still the client's value that is wrong, so a 400, never a 500.
      return sendProblem(res, {
        type: 'urn:cachelab:problem:invalid-value',
        title: 'A value in your request cannot be stored',
        status: 400,
        detail: `PostgreSQL refused a value from the request: ${err instanceof Error ? err.message : 'invalid value'}.`,
        instance,
      });
    }
    if (isPoolExhausted(err)) {
      // PostgreSQL is up, but every connection of the pool stayed busy for the whole
      // connection timeout: too many slow queries at once. Not "start the database" (it
      // runs); the client should back off a little and try again.
      res.set('Retry-After', '2');
      return sendProblem(res, {
        type: 'urn:cachelab:problem:database-overloaded',
        title: 'The database is overloaded',
        status: 503,
        detail:
          'The database is overloaded: every connection of the pool stayed busy until the wait for one timed out (pool exhausted). Try again in a moment.',
        instance,
      });
    }
    if (isQueryTimeout(err)) {
      // PostgreSQL took the query and did not answer in time: the server cancelled it
      // (statement_timeout) or never answered at all (the pool's query_timeout: a frozen
      // server, a network that drops packets). Bounded either way; the client retries later.
      res.set('Retry-After', '5');
      return sendProblem(res, {
        type: 'urn:cachelab:problem:database-timeout',
        title: 'The database did not answer in time',
        status: 503,
        detail: 'The database did not answer in time, so the request was given up. Try again in a moment.',
        instance,
      });
    }
    if (isConnectionError(err)) {
      // Where the database is (host, port, name) is for the operator's log and for
      // `cachelab doctor`, not for every client: the client gets the fix without the address.
      // (The pool's own error says where it tried, e.g. "connect ECONNREFUSED 127.0.0.1:5432".)
      // Logged once per outage, without a stack: every request of an outage fails this way.
      const outage = (req as { [DATABASE_OUTAGE]?: DatabaseOutage })[DATABASE_OUTAGE] ?? ownOutage;
      outage.failed(err);
      res.set('Retry-After', '5');
      return sendProblem(res, {
        type: 'urn:cachelab:problem:database-unavailable',
        title: 'The database is unavailable',
        status: 503,
        detail: `Can't reach PostgreSQL. ${POSTGRES_FIX}`,
        instance,
      });
    }
    log(err);
    return sendProblem(res, {
      type: 'urn:cachelab:problem:internal',
      title: 'Internal server error',
      status: 500,
      detail: 'Something went wrong on our side; the server log has the details.',
      instance,
    });
  };
}
