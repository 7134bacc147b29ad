import express, { type Request, type RequestHandler } from 'express';
import { ACCEPTED_MEDIA_TYPE, unsupportedMediaType } from './problem.ts';

/** The one media type the workshop's writes read. */
export const JSON_MEDIA_TYPE = 'application/json';

export interface JsonBodyOptions {
  /** Largest body accepted, as `express.json` reads it ('10kb', or bytes). Default '10kb'; larger is a 413. */
  limit?: string | number;
}

/**
 * A request that carries a body: `Transfer-Encoding`, or a `Content-Length` above 0. An empty
 * body is no body at all: the route's validation says "`body` is required", whatever its type.
 */
function carriesBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0;
}

/**
 * The body parser of every write from lesson 04 on: `express.json`, except that a body in
 * another media type is refused with **415 Unsupported Media Type** (problem+json, with
 * `Accept-Patch` / `Accept-Post` naming `application/json`) instead of being skipped.
 *
 * Why not plain `express.json()`: it parses only `application/json` and silently leaves
 * `req.body` undefined for anything else, so `curl -d '{"name":"Ada"}'` (which sends
 * `application/x-www-form-urlencoded`) got a 400 saying "`body` is required" about a body
 * that was right there. The client's mistake is the label, and the answer should say so.
 *
 * The returned middleware is marked with the type it accepts, so that lesson 01's 404
 * handler can name it in the answer to OPTIONS.
 */
export function jsonBody(options: JsonBodyOptions = {}): RequestHandler {
  const parseJson = express.json({ limit: options.limit ?? '10kb', type: JSON_MEDIA_TYPE });
  const middleware: RequestHandler = (req, res, next) => {
    if (carriesBody(req) && !req.is(JSON_MEDIA_TYPE)) throw unsupportedMediaType(req, res, JSON_MEDIA_TYPE);
    parseJson(req, res, next);
  };
  return Object.assign(middleware, { [ACCEPTED_MEDIA_TYPE]: JSON_MEDIA_TYPE });
}
