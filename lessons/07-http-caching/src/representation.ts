import { createHash } from 'node:crypto';

/**
 * A representation: the exact bytes a 200 sends, and the two validators a client can send
 * back to ask "has it changed?". They are computed together, once, when the entry is
 * cached, and stored with it, so that answering "no, it has not" (a 304) costs a lookup and
 * a string comparison: no query, no JSON.stringify and, above all, no hashing of the body.
 */
export interface Representation {
  /** The serialized JSON, exactly as a 200 sends it. Shared by every hit: never modify it. */
  body: Buffer;
  /** A strong entity tag, quoted, derived from `body` alone: the same bytes always give the same tag. */
  etag: string;
  /** When the data last changed (or, when we cannot know, when this body was built), as an HTTP-date. */
  lastModified: string;
}

/**
 * The default ETag: SHA-256 of the body, base64url, in quotes (an entity tag is a quoted
 * string; `W/` in front would make it weak). Strong because it changes whenever a single
 * byte does, and it is the same on every instance of the app for the same bytes, which a
 * counter or a timestamp is not.
 *
 * Why SHA-256 and not a "faster" hash: on this machine it *is* the fastest that Node ships
 * (the CPU has SHA instructions; `measure-etag.ts`: 11 ms at best for the 17.8 MB payments
 * body, sha1 the same, md5 and sha512 twice that). Collisions are not a concern with it, and
 * the cost matters little anyway: it is paid once per cache fill, not per request.
 */
export function strongEtag(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url')}"`;
}

/** `date` as an HTTP-date (`Mon, 23 Nov 2026 10:55:28 GMT`). HTTP dates have whole seconds. */
export function httpDate(date: Date | number | string): string {
  const ms = new Date(date).getTime();
  if (Number.isNaN(ms)) throw new TypeError(`httpDate: not a date: ${String(date)}`);
  return new Date(Math.floor(ms / 1000) * 1000).toUTCString();
}

/*
 * The envelope: how a representation is stored as one Buffer, in L1 (lesson 02's memory
 * store holds Buffers) and in Redis (lesson 03's store holds Buffers), the same bytes in
 * both, so an L2 hit backfills L1 without re-encoding anything:
 *
 *     {"v":1,"etag":"\"…\"","lastModified":"Mon, 23 Nov 2026 10:55:28 GMT"}\n<body bytes>
 *
 * A header line of JSON (JSON.stringify never writes a raw newline), a newline, the body.
 * Decoding reads the header only and returns the body as a *view* into the same memory
 * (`subarray`, no copy), so it costs the same few microseconds for a 200-byte employee and
 * for the 17.8 MB payments page. That is what keeps an L1 hit cheap.
 */
const NEWLINE = 0x0a;
/** A header longer than this is not ours: treat the entry as corrupt (a miss). */
const MAX_HEADER_BYTES = 1024;
const ENVELOPE_VERSION = 1;

export function encodeRepresentation(representation: Representation): Buffer {
  const header = JSON.stringify({
    v: ENVELOPE_VERSION,
    etag: representation.etag,
    lastModified: representation.lastModified,
  });
  // One copy of the body, on a cache fill only.
  return Buffer.concat([Buffer.from(`${header}\n`), representation.body]);
}

/** The representation in `envelope`, or undefined when it is not a version-1 envelope. */
export function decodeRepresentation(envelope: Buffer): Representation | undefined {
  const end = envelope.subarray(0, MAX_HEADER_BYTES).indexOf(NEWLINE);
  if (end < 0) return undefined;
  let header: { v?: unknown; etag?: unknown; lastModified?: unknown };
  try {
    header = JSON.parse(envelope.subarray(0, end).toString('utf8'));
  } catch {
    return undefined;
  }
  if (header.v !== ENVELOPE_VERSION || typeof header.etag !== 'string' || typeof header.lastModified !== 'string') {
    return undefined;
  }
  return { body: envelope.subarray(end + 1), etag: header.etag, lastModified: header.lastModified };
}
