/**
 * What this lesson stores under a key: the response body, plus the three times the
 * stampede defences need, in a small header in front of it.
 *
 *     {"s":1732350000000,"f":1732350057312,"g":1732350357312,"d":182}\n<the JSON body, as sent>
 *
 * - `s` storedAtMs: when it was written (to tell a newer entry from the one we already have);
 * - `f` freshUntilMs: until then it is served as a HIT (the jittered TTL);
 * - `g` staleUntilMs: until then, once no longer fresh, it may still be served as STALE
 *   while one refresh runs, or while the database is failing (the grace period);
 * - `d` deltaMs: how long the load took, for the early refresh (XFetch).
 *
 * Why a header and not `{ meta, body }` in one JSON document: a hit must not parse or
 * stringify the body (the 100,000-row payments page is 17.8 MB). Decoding reads the header
 * up to the first newline (JSON.stringify of numbers never contains one) and the body is
 * a view on the same bytes, not a copy.
 *
 * Redis forgets the key at `staleUntilMs` (the physical TTL); `freshUntilMs` is a logical
 * expiry that only this code reads. Times are wall-clock ms (Date.now, or an injected clock),
 * because instances compare entries written by each other.
 */
export interface CacheEntry {
  body: Buffer;
  storedAtMs: number;
  freshUntilMs: number;
  staleUntilMs: number;
  deltaMs: number;
}

export type Freshness = 'fresh' | 'stale' | 'expired';

const NEWLINE = 0x0a;
/** A header is ~70 bytes; anything without a newline in the first 256 is not ours. */
const MAX_HEADER_BYTES = 256;

export function encodeEntry(entry: CacheEntry): Buffer {
  const header = JSON.stringify({
    s: entry.storedAtMs,
    f: entry.freshUntilMs,
    g: entry.staleUntilMs,
    d: entry.deltaMs,
  });
  return Buffer.concat([Buffer.from(`${header}\n`), entry.body]);
}

/**
 * The entry in `bytes`, or undefined when they are not an entry of this format (a value
 * written by another lesson under the same key, a truncated write): the caller treats that
 * as a miss and overwrites it, rather than sending garbage.
 */
export function decodeEntry(bytes: Buffer): CacheEntry | undefined {
  const end = bytes.subarray(0, MAX_HEADER_BYTES).indexOf(NEWLINE);
  if (end <= 0) return undefined;
  let header: unknown;
  try {
    header = JSON.parse(bytes.subarray(0, end).toString('utf8'));
  } catch {
    return undefined;
  }
  const h = header as Record<string, unknown>;
  if (![h.s, h.f, h.g, h.d].every((n) => typeof n === 'number' && Number.isFinite(n))) return undefined;
  return {
    body: bytes.subarray(end + 1),
    storedAtMs: h.s as number,
    freshUntilMs: h.f as number,
    staleUntilMs: h.g as number,
    deltaMs: h.d as number,
  };
}

/** Fresh until `freshUntilMs`, then stale until `staleUntilMs`, then expired. */
export function freshness(entry: CacheEntry, nowMs: number): Freshness {
  if (nowMs < entry.freshUntilMs) return 'fresh';
  if (nowMs < entry.staleUntilMs) return 'stale';
  return 'expired';
}
