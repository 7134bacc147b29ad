import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { type Representation, strongEtag } from './representation.ts';

/**
 * Compressed answers (step 3): the same representation as gzip or Brotli bytes, chosen by
 * the request's `Accept-Encoding`, compressed **once per cached entry**, each coding with its
 * own strong ETag.
 *
 *   select(rep, accept-encoding):
 *     1. negotiate: the coding the client accepts with the highest q, ours on a tie (br, gzip);
 *        identity when it sent no Accept-Encoding, or the body is under `minBytes`
 *     2. identity? the representation as it is, no work
 *     3. a variant already made for this entry? it, synchronously: no zlib, no hashing
 *     4. otherwise compress (in libuv's thread pool, not on the event loop), hash the
 *        compressed bytes for its ETag, and keep it with the entry; requests arriving
 *        meanwhile wait for the same promise (one compression, not one each)
 *
 * The variants are kept per entry in a WeakMap keyed by the identity representation, which
 * the representation cache keeps once per L1 entry: when L1 drops the entry (its TTL, an
 * invalidation, eviction), its compressed copies go with it. Limits we accept: each instance
 * compresses each entry once per L1 lifetime (every 10 s at most for a hot page), and the
 * compressed copies are not counted in L1's maxBytes (they are a fraction of it: step 3
 * measures 17.8 MB against about 2).
 */
export type Coding = 'br' | 'gzip' | 'identity';
export type ContentCoding = Exclude<Coding, 'identity'>;

export interface CompressionOptions {
  /** The codings we offer, in our order of preference on a tie of q. Default ['br', 'gzip']. */
  codings?: readonly ContentCoding[];
  /**
   * Bodies shorter than this are always sent as they are (identity) and without
   * `Vary: Accept-Encoding`: a few hundred bytes gain little and cost a compression and a
   * variant each. Default 1024 bytes.
   */
  minBytes?: number;
  /** gzip level 1–9. Default 6, zlib's own default. */
  gzipLevel?: number;
  /**
   * Brotli quality 0–11. Default 5. Node's default is 11, the smallest output and by far the
   * slowest: on the 17.8 MB page it would hold a thread-pool thread for seconds on every fill.
   */
  brotliQuality?: number;
  /** The ETag of a compressed body, from its own bytes. Default strongEtag (SHA-256). */
  etagOf?: (body: Buffer) => string;
  /**
   * **For measuring only**: compress on every request and keep nothing, what a compression
   * middleware does (`measure-compression.ts` compares). Default false.
   */
  perRequest?: boolean;
}

/** What to send: the representation in the chosen coding, and whether the answer varies on Accept-Encoding. */
export interface Selected {
  representation: Representation;
  coding: Coding;
  /** True when the coding depended on Accept-Encoding: the answer must say `Vary: Accept-Encoding`. */
  vary: boolean;
  /** ms spent compressing and hashing for this request (0 when a kept variant was sent). */
  compressMs: number;
}

export interface Compression {
  select(representation: Representation, acceptEncoding: string | undefined): Selected | Promise<Selected>;
  /** Compressions done so far (one per entry and coding, unless perRequest). Tests count them. */
  readonly compressions: number;
}

const compressors: Record<ContentCoding, (body: Buffer, level: number) => Promise<Buffer>> = {
  gzip: (body, level) => promisify(gzip)(body, { level }),
  br: (body, quality) =>
    promisify(brotliCompress)(body, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: quality,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    }),
};

/**
 * The coding to send for `acceptEncoding` (RFC 9110 §12.5.3): the offered coding with the
 * highest q (`x-gzip` is gzip, `*` any coding not named, `q=0` "not acceptable"), ours first
 * on a tie; identity when the header is absent or accepts none of ours. (The RFC lets a server
 * pick any coding when the header is absent; curl and scripts send none and want plain JSON.)
 */
export function negotiateCoding(
  acceptEncoding: string | undefined,
  offered: readonly ContentCoding[] = ['br', 'gzip'],
): Coding {
  if (!acceptEncoding) return 'identity';
  const weights = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    weights.set(name === 'x-gzip' ? 'gzip' : name.trim(), Number.isFinite(q) ? q : 0);
  }
  let best: Coding = 'identity';
  let bestQ = 0;
  for (const coding of offered) {
    const q = weights.get(coding) ?? weights.get('*') ?? 0;
    if (q > bestQ) {
      best = coding;
      bestQ = q;
    }
  }
  return best;
}

export function createCompression(options: CompressionOptions = {}): Compression {
  const codings = options.codings ?? ['br', 'gzip'];
  const minBytes = options.minBytes ?? 1024;
  const levels: Record<ContentCoding, number> = { gzip: options.gzipLevel ?? 6, br: options.brotliQuality ?? 5 };
  const etagOf = options.etagOf ?? strongEtag;
  const perRequest = options.perRequest ?? false;
  let compressions = 0;

  type Variant = { done: Selected } | { pending: Promise<Selected> };
  const variants = new WeakMap<Representation, Map<ContentCoding, Variant>>();

  async function compress(identity: Representation, coding: ContentCoding): Promise<Selected> {
    const started = performance.now();
    compressions++;
    const body = await compressors[coding](identity.body, levels[coding]);
    // A different body is a different representation: its own strong ETag, from its own
    // bytes (RFC 9110 §8.8.3). Last-Modified is the data's, the same for every coding.
    const representation = { body, etag: etagOf(body), lastModified: identity.lastModified };
    return { representation, coding, vary: true, compressMs: performance.now() - started };
  }

  return {
    get compressions() {
      return compressions;
    },
    select(identity, acceptEncoding) {
      if (identity.body.length < minBytes) {
        return { representation: identity, coding: 'identity', vary: false, compressMs: 0 };
      }
      const coding = negotiateCoding(acceptEncoding, codings);
      if (coding === 'identity') return { representation: identity, coding, vary: true, compressMs: 0 };
      if (perRequest) return compress(identity, coding);
      let map = variants.get(identity);
      if (!map) {
        map = new Map();
        variants.set(identity, map);
      }
      const variant = map.get(coding);
      if (variant && 'done' in variant) return { ...variant.done, compressMs: 0 };
      if (variant) return variant.pending.then((s) => ({ ...s, compressMs: 0 }));
      const pending = compress(identity, coding).then(
        (selected) => {
          map.set(coding, { done: selected });
          return selected;
        },
        (err: unknown) => {
          map.delete(coding); // a failed compression is not kept: the next request tries again
          throw err;
        },
      );
      map.set(coding, { pending });
      return pending;
    },
  };
}
