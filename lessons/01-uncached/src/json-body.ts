import express, { type Request, type RequestHandler } from 'express';
import { ACCEPTED_MEDIA_TYPE, HttpProblem, unsupportedMediaType } from './problem.ts';

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
 * The body parser of every write from lesson 04 on: `express.json`, except that
 *
 * - a body in another media type is refused with **415 Unsupported Media Type** (problem+json,
 *   with `Accept-Patch` / `Accept-Post` naming `application/json`) instead of being skipped;
 * - a body that is not valid JSON is a 400 that says so in our words, with where the mistake
 *   is (`unreadableBody`), not the parser's own text; a body over `limit` a 413 saying both sizes.
 *
 * Why not plain `express.json()`: it parses only `application/json` and silently leaves
 * `req.body` undefined for anything else, so `curl -d '{"name":"Ada"}'` (which sends
 * `application/x-www-form-urlencoded`) got a 400 saying "`body` is required" about a body
 * that was right there. The client's mistake is the label, and the answer should say so.
 * And its malformed-JSON error is V8's message ("Expected property name or '}' in JSON at
 * position 1"), which names neither the request nor what JSON wants.
 *
 * The returned middleware is marked with the type it accepts, so that lesson 01's 404
 * handler can name it in the answer to OPTIONS.
 */
export function jsonBody(options: JsonBodyOptions = {}): RequestHandler {
  const parseJson = express.json({ limit: options.limit ?? '10kb', type: JSON_MEDIA_TYPE });
  const middleware: RequestHandler = (req, res, next) => {
    if (carriesBody(req) && !req.is(JSON_MEDIA_TYPE)) throw unsupportedMediaType(req, res, JSON_MEDIA_TYPE);
    parseJson(req, res, (err?: unknown) => next(err === undefined ? undefined : unreadableBody(req, err)));
  };
  return Object.assign(middleware, { [ACCEPTED_MEDIA_TYPE]: JSON_MEDIA_TYPE });
}

/** What body-parser puts on its errors (http-errors): its kind, the text it read, the sizes. */
interface BodyParserError {
  type?: string;
  message?: string;
  body?: unknown;
  length?: number;
  limit?: number;
}

/** Characters shown on each side of a JSON mistake. */
const AROUND = 20;

/**
 * body-parser's error for a body it could not read, as a problem the error handler writes:
 * malformed JSON → 400 saying where (`position N`, counted from 0 as JSON.parse counts, and the
 * text around it with ▸ at the mistake); too large → 413 with both sizes. Anything else
 * (an unsupported charset, an aborted request) is returned as it came.
 */
export function unreadableBody(req: Request, err: unknown): unknown {
  const e = err as BodyParserError;
  const what = `The body of ${req.method} ${req.baseUrl}${req.path}`;
  if (e.type === 'entity.too.large' && typeof e.limit === 'number') {
    const size = typeof e.length === 'number' ? `is ${e.length.toLocaleString('en')} bytes` : 'is too large';
    return new HttpProblem(
      413,
      'body-too-large',
      'The request body is too large',
      `${what} ${size}; this route reads at most ${e.limit.toLocaleString('en')} bytes.`,
    );
  }
  if (e.type !== 'entity.parse.failed' || typeof e.body !== 'string') return err;
  return new HttpProblem(
    400,
    'bad-body',
    'The request body is not valid JSON',
    `${what} ${whereJsonBreaks(e.body, e.message ?? '')}`,
  );
}

/** `is not valid JSON: …`: where and how `body` stops being JSON (from JSON.parse's message), in words a client can act on. */
function whereJsonBreaks(body: string, parserMessage: string): string {
  const start = body.search(/\S/);
  if (start >= 0 && body[start] !== '{' && body[start] !== '[') {
    return `must be a JSON object, like {"name": "Ada"}; it starts with \`${show(body.slice(start, start + AROUND))}\`.`;
  }
  const rules = 'JSON wants double quotes around names and strings, a comma between items and none after the last.';
  if (/unexpected end/i.test(parserMessage)) {
    return `is not valid JSON: it ends at position ${body.length} before the JSON is complete (a closing \`}\`, \`]\` or \`"\` is missing, or a value after the last \`:\`). ${rules}`;
  }
  const at = /position (\d+)/.exec(parserMessage);
  if (at) {
    const p = Number(at[1]);
    const before = body.slice(Math.max(0, p - AROUND), p);
    const after = body.slice(p, p + AROUND);
    return `is not valid JSON: the mistake is at position ${p} (counting from 0), marked ▸ here: \`${show(before)}▸${show(after)}\`. ${rules}`;
  }
  // V8 names no position for some mistakes (`[1,]`): show the start of the body instead.
  return `is not valid JSON: \`${show(body.slice(0, 2 * AROUND))}\`${body.length > 2 * AROUND ? '…' : ''}. ${rules}`;
}

/** A piece of the body for a message: on one line, backticks shown as quotes. */
const show = (text: string) => text.replace(/[\r\n\t]/g, ' ').replace(/`/g, "'");
