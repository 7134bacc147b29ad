import { sendJsonBytes } from '@cachelab/lesson-01-uncached/send-bytes';
import type { Request, Response } from 'express';
import type { HttpCachePolicy } from './cache-policy.ts';
import type { Coding } from './compression.ts';
import { isNotModified } from './conditional.ts';
import type { Representation } from './representation.ts';

/**
 * Answer a GET (or HEAD) with a cached representation: a 200 with the body, or a 304 with
 * none when the client's copy is current.
 *
 * 1. The caching headers go on both answers, identical: `Cache-Control`, `Vary`, `ETag`,
 *    `Last-Modified`. A 304 *updates* the client's stored copy (RFC 9110 §15.4.5, RFC 9111
 *    §4.3.4): a 304 without Cache-Control leaves the cache with no policy for it, one
 *    without the ETag may not be matched to the copy at all, one without Vary mixes users up.
 * 2. The preconditions (conditional.ts) decide: 304 Not Modified, `res.end()`, no body.
 *    Nothing was hashed for it: the ETag was computed when the entry was cached.
 * 3. Otherwise a 200 with the stored bytes as they are: no JSON.stringify, no hashing.
 *
 * `headers` (name, value, name, value, …) go on either answer too: `X-Cache`, Server-Timing.
 * `encoding` (step 3, compression.ts) is the coding `representation` is in, and whether the
 * coding was chosen by Accept-Encoding: then `Vary: Accept-Encoding` goes on the 200 and the
 * 304 alike, and `Content-Encoding` on the 200 (a 304 has no content to describe). The ETag
 * is the coding's own: the client's If-None-Match is compared with it.
 * Every header leaves in one `writeHead` (lesson 01's sendJsonBytes; lesson 09 measures what
 * a `res.set` per header costs a hit). Express's `res.send` also knows how to answer 304 (it
 * reads `req.fresh` when an ETag is set, parsing If-None-Match a second time); we decide
 * explicitly, so the rule is readable here and follows the RFC's order.
 */
export function sendRepresentation(
  req: Request,
  res: Response,
  representation: Representation,
  policy: HttpCachePolicy,
  headers: readonly string[] = [],
  encoding?: { coding: Coding; vary: boolean },
): 200 | 304 {
  // Vary is added to what the route may have set already (GET /me sets it before it can fail).
  for (const header of policy.vary ?? []) res.vary(header);
  if (encoding?.vary) res.vary('Accept-Encoding');
  const caching = [
    'Cache-Control',
    policy.cacheControl,
    'ETag',
    representation.etag,
    'Last-Modified',
    representation.lastModified,
    ...headers,
  ];
  if (isNotModified(req.method, req.headers, representation)) {
    res.writeHead(304, caching).end();
    return 304;
  }
  const coded = encoding && encoding.coding !== 'identity' ? ['Content-Encoding', encoding.coding] : [];
  sendJsonBytes(res, representation.body, [...coded, ...caching]);
  return 200;
}
