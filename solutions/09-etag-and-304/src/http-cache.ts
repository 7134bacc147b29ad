import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';

/**
 * What the server-side cache holds for one URL: the bytes a 200 sends and, once you have
 * done the exercise, their ETag. The app builds one with `represent()` on a cache miss and
 * then serves it, unchanged, to every request until it expires or a PATCH deletes it.
 */
export interface Representation {
  /** The serialized JSON, exactly as a 200 sends it. */
  body: Buffer;
  /** The strong entity tag of `body`, quoted, e.g. `"3q2-7w"` (represent() always computes it). */
  etag: string;
}

/** How an ETag is computed from a body (the app passes `strongEtag` unless a test passes a counting one). */
export type EtagOf = (body: Buffer) => string;

/** A strong ETag: SHA-256 of the bytes, base64url, in quotes. The same bytes always give the same tag. */
export function strongEtag(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url')}"`;
}

/** Serialize `value` once, on a cache miss. */
export function represent(value: unknown, etagOf: EtagOf): Representation {
  const body = Buffer.from(JSON.stringify(value));
  // Hashed here, once per cache fill, and stored with the bytes: every later 200 and 304 reads
  // the stored tag. Hashing in sendRepresentation would cost a full pass over the body on
  // every request (11–30 ms for the 17.8 MB payments page), the 304s included.
  return { body, etag: etagOf(body) };
}

/**
 * True when the request's `If-None-Match` header says the client already has `etag`.
 * The header is `*` or a comma-separated list of entity tags, each `"…"` or weak `W/"…"`.
 */
export function ifNoneMatchMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  // `*`: the client will take any version it already has, and this one exists. (Node has
  // already trimmed the spaces around a header's value.)
  if (header === '*') return true;
  // A client cache may hold several versions and list them all. If-None-Match uses the weak
  // comparison (RFC 9110 §13.1.2): `W/"x"` and `"x"` name the same version.
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => opaque(tag) === opaque(etag));
}

/** How a response may be cached downstream: its Cache-Control and, if any, the request headers it varies on. */
export interface ClientCachePolicy {
  cacheControl: string;
  vary?: string[];
}

/** Answer a GET with a cached representation. */
export function sendRepresentation(
  req: Request,
  res: Response,
  representation: Representation,
  policy: ClientCachePolicy,
) {
  // The same caching headers on the 200 and on the 304: a 304 updates the client's stored copy,
  // so one without Cache-Control, Vary or the ETag leaves that copy with the wrong policy or
  // unmatched (RFC 9110 §15.4.5).
  res.set('Cache-Control', policy.cacheControl);
  for (const header of policy.vary ?? []) res.vary(header);
  res.set('ETag', representation.etag);
  if (ifNoneMatchMatches(req.get('if-none-match'), representation.etag)) {
    // The client's copy is current: no body. The cost was a lookup and a string comparison.
    res.status(304).end();
    return;
  }
  res.status(200).type('application/json').send(representation.body);
}
