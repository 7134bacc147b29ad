import type { Request, Response } from 'express';
import type { HttpCachePolicy } from './cache-policy.ts';
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
 * Express's `res.send` also knows how to answer 304 (it reads `req.fresh` when an ETag is
 * set); we decide explicitly, so the rule is readable here and follows the RFC's order.
 */
export function sendRepresentation(
  req: Request,
  res: Response,
  representation: Representation,
  policy: HttpCachePolicy,
): 200 | 304 {
  res.set('Cache-Control', policy.cacheControl);
  for (const header of policy.vary ?? []) res.vary(header);
  res.set('ETag', representation.etag);
  res.set('Last-Modified', representation.lastModified);

  if (isNotModified(req.method, req.headers, representation)) {
    res.status(304).end();
    return 304;
  }
  res.status(200).type('application/json').send(representation.body);
  return 200;
}
