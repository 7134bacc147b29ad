import { isConnectionError, isQueryTimeout, POSTGRES_FIX } from '@cachelab/db';
import type { ErrorRequestHandler, RequestHandler } from 'express';

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
export function sendProblem(res: import('express').Response, problem: Problem): void {
  res
    .status(problem.status)
    .set('Cache-Control', 'no-store')
    .type('application/problem+json')
    .send(JSON.stringify(problem));
}

/** The one 404 handler, after every route. */
export const notFoundHandler: RequestHandler = (req, res) => {
  sendProblem(res, {
    type: 'urn:cachelab:problem:not-found',
    title: 'Not found',
    status: 404,
    detail: `There is no route ${req.method} ${req.path}.`,
    instance: req.originalUrl,
  });
};

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
 * The one error handler, last. Maps what handlers throw to problem+json:
 * HttpProblem → its status; a body that is not JSON → 400; the pool exhausted → 503 saying
 * the database is overloaded; a query PostgreSQL did not answer in time → 503; PostgreSQL
 * unreachable → 503 naming the fix (its address only in the log); anything else →
 * 500 without leaking internals (the cause is logged).
 */
export function errorHandler(options: { log?: (err: unknown) => void } = {}): ErrorRequestHandler {
  const log = options.log ?? ((err: unknown) => console.error(err));
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
      log(new Error(`Can't reach PostgreSQL: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
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
