import type { Representation } from './representation.ts';

/**
 * Conditional GET (RFC 9110 §13): the client says which copy it has, the server answers
 * "304 Not Modified" when that copy is still current, with no body. Two validators:
 *
 * - `If-None-Match: "etag1", W/"etag2"` — the entity tags of the copies the client holds
 *   (a list: a cache may hold several), or `*` ("any copy at all"). It matches when one of
 *   the tags equals the current ETag by **weak comparison**: `W/` is ignored and the quoted
 *   parts are compared (§8.8.3.2; If-None-Match always uses the weak comparison).
 * - `If-Modified-Since: <HTTP-date>` — the Last-Modified of the client's copy. Not modified
 *   when the representation's Last-Modified is *before* that date. HTTP dates have whole
 *   seconds, so two changes within one second look alike: a copy with `Last-Modified: 10:00:00`
 *   may be from before a second change at 10:00:00.700. So a change in the same second as the
 *   date given counts as a change (a 200): Last-Modified is a weak validator (§8.8.2.2) and
 *   "not modified" must never be said of a row that changed. ETag has no such blind spot.
 *
 * The order is the RFC's (§13.2.2), for GET and HEAD:
 *   1. If-None-Match present → it alone decides (If-Modified-Since is then ignored).
 *   2. Otherwise If-Modified-Since, if it is a valid date.
 *   3. Otherwise, no condition: a normal 200.
 *
 * Preconditions are evaluated only once the server knows the resource exists and would
 * otherwise answer 200: a request for a missing resource is a 404 whatever its
 * If-None-Match says, and an error is never turned into a 304.
 */

/** One entity tag from a list, e.g. `W/"abc"` → { weak: true, opaque: '"abc"' }. */
export interface EntityTag {
  weak: boolean;
  /** The quoted part, quotes included, as it appears in an ETag header. */
  opaque: string;
}

/**
 * Parse an If-None-Match (or If-Match) field value: `*`, or the list of entity tags in it.
 * Members that are not entity tags are skipped (a client's mistake must not turn into a
 * 304). An absent or empty header is `[]`. Node joins repeated header lines with ", ", so
 * a tag list split across lines arrives as one list.
 */
export function parseEntityTags(header: string | undefined): '*' | EntityTag[] {
  if (header === undefined) return [];
  if (header.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  // An entity tag is `W/`? then `"` etagc* `"`, where etagc is any visible character but
  // `"`; a comma *may* appear inside the quotes, so split on the grammar, not on commas.
  const member = /\s*(W\/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)|[^,]*(?:,|$)/gy;
  for (let m = member.exec(header); m !== null && m[0] !== ''; m = member.exec(header)) {
    if (m[2] !== undefined) tags.push({ weak: m[1] !== undefined, opaque: m[2] });
  }
  return tags;
}

/** Weak comparison (RFC 9110 §8.8.3.2): the opaque parts are equal, `W/` or not. */
export function weakMatch(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

export interface ConditionalHeaders {
  'if-none-match'?: string | undefined;
  'if-modified-since'?: string | undefined;
}

/**
 * True when the request's preconditions say the client's copy is current, i.e. answer 304.
 * `representation` is what a 200 would send; only its ETag and Last-Modified are read.
 */
export function isNotModified(
  method: string,
  headers: ConditionalHeaders,
  representation: Pick<Representation, 'etag' | 'lastModified'>,
): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    // The commonest case, a client sending back the one ETag it was given: a list of one tag
    // equal to ours matches (weak comparison of equal tags), without parsing the list.
    if (ifNoneMatch === representation.etag) return true;
    const tags = parseEntityTags(ifNoneMatch);
    // `*`: "send it only if you have nothing" — and we have something (this runs only when we do).
    if (tags === '*') return true;
    return tags.some((tag) => weakMatch(tag.opaque, representation.etag));
  }
  const ifModifiedSince = headers['if-modified-since'];
  if (ifModifiedSince !== undefined) {
    const since = Date.parse(ifModifiedSince);
    const modified = Date.parse(representation.lastModified);
    // An invalid date is ignored (a normal 200), never read as "the beginning of time".
    if (Number.isNaN(since) || Number.isNaN(modified)) return false;
    // `modified` is truncated to its second: the change happened somewhere in
    // [modified, modified + 1 s). Only a date after all of that second proves it is older.
    // (RFC 9110 §13.1.3 says "earlier or equal"; equal is exactly the case it cannot vouch for.)
    return modified < since;
  }
  return false;
}
