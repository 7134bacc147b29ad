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
  /** The strong entity tag of `body`, quoted, e.g. `"3q2-7w"`. */
  etag?: string;
}

/** How an ETag is computed from a body (the app passes `strongEtag` unless a test passes a counting one). */
export type EtagOf = (body: Buffer) => string;

/** A strong ETag: SHA-256 of the bytes, base64url, in quotes. The same bytes always give the same tag. */
export function strongEtag(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url')}"`;
}

/** Serialize `value` once, on a cache miss. */
// biome-ignore lint/correctness/noUnusedFunctionParameters: the starter does not use etagOf yet (see the TODO).
export function represent(value: unknown, etagOf: EtagOf): Representation {
  const body = Buffer.from(JSON.stringify(value));
  // TODO: compute the ETag of these bytes here, once, with `etagOf` (the tests count its calls), and keep it in the representation.
  return { body };
}

/**
 * True when the request's `If-None-Match` header says the client already has `etag`.
 * The header is `*` or a comma-separated list of entity tags, each `"…"` or weak `W/"…"`.
 */
export function ifNoneMatchMatches(header: string | undefined, etag: string): boolean {
  // TODO: match `*`, and any tag of the list by weak comparison (ignore a `W/` prefix on either side).
  return header === etag;
}

/** How a response may be cached downstream: its Cache-Control and, if any, the request headers it varies on. */
export interface ClientCachePolicy {
  cacheControl: string;
  vary?: string[];
}

/** Answer a GET with a cached representation. */
export function sendRepresentation(
  // biome-ignore lint/correctness/noUnusedFunctionParameters: the starter does not read the request yet (see the TODO).
  req: Request,
  res: Response,
  representation: Representation,
  policy: ClientCachePolicy,
) {
  res.set('Cache-Control', policy.cacheControl);
  for (const header of policy.vary ?? []) res.vary(header);
  // TODO: send the stored ETag, and answer 304 Not Modified, with no body, when the client's If-None-Match matches it.
  res.status(200).type('application/json').send(representation.body);
}
